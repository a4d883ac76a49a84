// A pool of kernel pipes for splice(2). A pipe is held by a relay direction only while it carries data; only an
// empty pipe goes back to the pool. Pipe sizes follow a shared byte budget: each pipe gets a fair share of it (the
// budget over the pipes in use), so many busy relays get smaller pipes, all of them still splicing, instead of the
// first ones taking whole pipes and the rest copying. Copying is the last resort (no pipe of even one page fits).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tidegate {

struct Pipe {
  int readFd = -1;
  int writeFd = -1;
  size_t capacity = 0;
  bool valid() const { return readFd >= 0; }
};

// Counters and limits shared by the pools of every loop thread of one engine.
struct PipeBudget {
  size_t targetSize = 1 << 20;       // wanted pipe size (capped by /proc/sys/fs/pipe-max-size)
  int64_t budgetBytes = 0;           // total pipe capacity allowed at once
  size_t maxPooledPerLoop = 64;      // empty pipes kept for reuse per loop
  int64_t maxPipes = 0;              // 0 = no limit besides the budget

  std::atomic<int64_t> bytesOpen{0};
  std::atomic<int64_t> pipesOpen{0};
  std::atomic<int64_t> pipesInUse{0};
  std::atomic<int64_t> pipesPooled{0};
  std::atomic<int64_t> starved{0};       // directions copying now because no pipe was to be had: demand too
  std::atomic<uint64_t> created{0};
  std::atomic<uint64_t> reused{0};
  std::atomic<uint64_t> reduced{0};      // created smaller than targetSize
  std::atomic<uint64_t> resized{0};      // an empty pipe's size changed to follow the fair share
  std::atomic<uint64_t> unavailable{0};  // no pipe at all: the direction copied instead
  std::atomic<uint64_t> discardedFull{0};  // closed (not pooled) because it still held data
};

// Reads the system limits and picks the default target and budget (half of pipe-user-pages-soft; for a process the
// soft limit does not bind, CAP_SYS_RESOURCE or CAP_SYS_ADMIN, 1/32 of the RAM within [that, 1 GiB]).
void InitPipeBudget(PipeBudget& budget, size_t requestedSize, int64_t requestedBudget);

class PipePool {
 public:
  explicit PipePool(PipeBudget& budget) : budget_(budget) {}
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // Returns false when no pipe can be had; the caller copies through a buffer instead.
  bool Acquire(Pipe& out);
  // bytesHeld > 0 means the pipe still holds data: it is closed, never pooled.
  void Release(Pipe& pipe, size_t bytesHeld);
  // The size a pipe taken now should have: the budget over the directions wanting one (pipes in use, starved
  // directions, this one), a power of two within [one page, targetSize].
  size_t FairSize() const;

 private:
  bool Create(Pipe& out, size_t size);
  // F_SETPIPE_SZ on an empty pipe, the budget kept exact; false (pipe unchanged) when the kernel or budget refuses.
  bool Resize(Pipe& pipe, size_t size);
  void Destroy(Pipe& pipe);

  PipeBudget& budget_;
  std::vector<Pipe> free_;
};

}  // namespace tidegate
