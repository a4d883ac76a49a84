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
  if (rate_ == 0) return want;
  Refill(nowNs);
  // Wait for a useful chunk rather than splicing a few bytes at a time.
  size_t chunk = static_cast<size_t>(std::max<uint64_t>(1, std::min<uint64_t>(65536, rate_ / 50)));
  size_t need = std::min(want, chunk);
  if (tokens_ < static_cast<double>(need)) {
    int64_t wait = static_cast<int64_t>((static_cast<double>(need) - tokens_) * kNsPerSec / static_cast<double>(rate_));
    *waitNs = std::max(wait, kMinWaitNs);
    return 0;
  }
  size_t grant = std::min(need, static_cast<size_t>(tokens_));
  tokens_ -= static_cast<double>(grant);
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
}

}  // namespace tidegate
