#include "byte_budget.h"

#include <algorithm>

namespace tidegate {

uint64_t ByteBudget::Counted() const { return (counts_[0] ? spent_[0] : 0) + (counts_[1] ? spent_[1] : 0); }

size_t ByteBudget::Take(int dir, size_t want) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t grant = want;
  if (counts_[dir] && limit_ != UINT64_MAX) {
    uint64_t counted = Counted();
    uint64_t left = counted >= limit_ ? 0 : limit_ - counted;
    grant = static_cast<size_t>(std::min<uint64_t>(want, left));
  }
  spent_[dir] += grant;
  return grant;
}

void ByteBudget::Refund(int dir, size_t unused) {
  if (unused == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  spent_[dir] -= std::min<uint64_t>(unused, spent_[dir]);
}

void ByteBudget::Charge(int dir, size_t bytes) {
  if (bytes == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  spent_[dir] += bytes;
}

void ByteBudget::Set(uint64_t limit, bool countIn, bool countOut) {
  std::lock_guard<std::mutex> lock(mutex_);
  limit_ = limit;
  counts_[0] = countIn;
  counts_[1] = countOut;
}

}  // namespace tidegate
