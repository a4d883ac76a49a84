// Token buckets shared by every relay started with one limit (one user across all of its connections), possibly
// from several loop threads. A bucket holds at most one second's worth of tokens and starts empty, so there is no
// start-up burst beyond one second's worth.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

namespace tidegate {

class TokenBucket {
 public:
  // Grants up to `want` bytes now, at most one chunk (1/50 s worth, <= 64 KiB) while limited so relays sharing the
  // bucket take turns. Returns 0 and sets *waitNs when the caller should retry later. *limited says whether a rate
  // applies at all.
  size_t Take(size_t want, int64_t nowNs, int64_t* waitNs, bool* limited);
  // Gives back tokens granted but not used (a splice moved fewer bytes than granted).
  void Refund(size_t unused);
  void SetRate(uint64_t bytesPerSec, int64_t nowNs);

 private:
  void Refill(int64_t nowNs);

  std::mutex mutex_;
  uint64_t rate_ = 0;  // 0 = unlimited
  double tokens_ = 0;
  int64_t lastNs_ = 0;
};

struct RateLimit {
  uint32_t id = 0;
  TokenBucket in;   // client -> target
  TokenBucket out;  // target -> client
};

}  // namespace tidegate
