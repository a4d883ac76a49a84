// A user's quota budget, shared by every relay of that user (possibly on several loop threads): the relays may move
// bytes of the counted direction(s) until their total since the budget was created reaches `limit`. Accounting sets
// the limit as (bytes it has counted for these relays) + (what is left of the quota), so counters that reach it late
// never count twice. A read or splice is sized to what is left; at zero the direction waits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

namespace tidegate {

class ByteBudget {
 public:
  // Reserves up to `want` bytes of direction `dir` (0 = client -> target, 1 = target -> client). Returns 0 when the
  // budget is used up; an uncounted direction always gets `want`.
  size_t Take(int dir, size_t want);
  // Gives back bytes reserved but not moved, or moved into a pipe and never delivered (a relay that closed).
  void Refund(int dir, size_t unused);
  // Books bytes that were read before the budget could size the read (Node's buffer at the hand-over, a greeting).
  void Charge(int dir, size_t bytes);
  // limit: UINT64_MAX = no limit.
  void Set(uint64_t limit, bool countIn, bool countOut);

 private:
  uint64_t Counted() const;

  std::mutex mutex_;
  uint64_t limit_ = UINT64_MAX;
  uint64_t spent_[2] = {0, 0};
  bool counts_[2] = {true, true};
};

}  // namespace tidegate
