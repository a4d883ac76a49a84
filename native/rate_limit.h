// Token buckets shared by every relay started with one limit (one user across all of its connections), possibly
// from several loop threads. A bucket holds at most one second's worth of tokens and starts empty, so there is no
// start-up burst beyond one second's worth.
//
// Fairness: a Take that cannot be granted now still books its chunk (tokens go negative) and learns when the chunk is
// covered. The caller keeps that reservation and uses it once due, without asking again; a later caller books behind
// it, since the debt it must wait out includes every earlier reservation. So waiters are served in the order they
// asked, whichever thread they run on, and a relay that just had its turn cannot jump ahead of one still waiting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

namespace tidegate {

class TokenBucket {
 public:
  // Takes up to `want` bytes, at most one chunk (1/50 s worth, <= 64 KiB) while limited so relays sharing the bucket
  // take turns. Returns the bytes taken. *waitNs = 0: usable now; > 0: they are reserved, usable only after *waitNs
  // (at least 1 ms). *limited says whether a rate applies at all (when not, nothing is taken or booked).
  size_t Take(size_t want, int64_t nowNs, int64_t* waitNs, bool* limited);
  // Gives back tokens taken but not used: a splice moved fewer bytes than taken, or a relay closed holding a
  // reservation.
  void Refund(size_t unused);
  void SetRate(uint64_t bytesPerSec, int64_t nowNs);

 private:
  void Refill(int64_t nowNs);

  std::mutex mutex_;
  uint64_t rate_ = 0;  // 0 = unlimited
  double tokens_ = 0;  // below 0: reservations not yet covered (the debt later callers wait out)
  int64_t lastNs_ = 0;
};

struct RateLimit {
  uint32_t id = 0;
  TokenBucket in;   // client -> target
  TokenBucket out;  // target -> client
};

}  // namespace tidegate
