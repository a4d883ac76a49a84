#include "rate_limit.h"

#include <algorithm>

namespace tidegate {

namespace {
constexpr int64_t kNsPerSec = 1000000000;
constexpr int64_t kMinWaitNs = 1000000;  // 1 ms: no busy waiting on tiny refills
}  // namespace

void TokenBucket::Refill(int64_t nowNs) {
  if (lastNs_ == 0) lastNs_ = nowNs;
  if (nowNs > lastNs_) {
    tokens_ += static_cast<double>(rate_) * static_cast<double>(nowNs - lastNs_) / kNsPerSec;
    if (tokens_ > static_cast<double>(rate_)) tokens_ = static_cast<double>(rate_);
    lastNs_ = nowNs;
  }
}

size_t TokenBucket::Take(size_t want, int64_t nowNs, int64_t* waitNs, bool* limited) {
  std::lock_guard<std::mutex> lock(mutex_);
  *limited = rate_ != 0;
  *waitNs = 0;
  if (rate_ == 0) return want;
  Refill(nowNs);
  // A useful chunk rather than a few bytes at a time; all of it now, or all of it reserved.
  size_t chunk = static_cast<size_t>(std::max<uint64_t>(1, std::min<uint64_t>(65536, rate_ / 50)));
  size_t grant = std::min(want, chunk);
  tokens_ -= static_cast<double>(grant);
  if (tokens_ < 0) {
    // Covered once the refill has paid this debt, which includes every reservation booked before this one.
    int64_t wait = static_cast<int64_t>(-tokens_ * kNsPerSec / static_cast<double>(rate_));
    *waitNs = std::max(wait, kMinWaitNs);
  }
  return grant;
}

void TokenBucket::Refund(size_t unused) {
  if (unused == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (rate_ == 0) return;
  tokens_ = std::min(tokens_ + static_cast<double>(unused), static_cast<double>(rate_));
}

void TokenBucket::SetRate(uint64_t bytesPerSec, int64_t nowNs) {
  std::lock_guard<std::mutex> lock(mutex_);
  Refill(nowNs);
  rate_ = bytesPerSec;
  if (tokens_ > static_cast<double>(rate_)) tokens_ = static_cast<double>(rate_);
  // Unlimited now: no debt carries over to a later limit (reservations still held are used or given back freely).
  if (rate_ == 0) tokens_ = 0;
}

}  // namespace tidegate
