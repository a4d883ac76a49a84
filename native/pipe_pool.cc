#include "pipe_pool.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace tidegate {

namespace {

int64_t ReadProcNumber(const char* path) {
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  long long value = -1;
  if (std::fscanf(f, "%lld", &value) != 1) value = -1;
  std::fclose(f);
  return value;
}

constexpr size_t kMinPipe = 4096;

// Whether the per-user pipe limits bind this process: the kernel exempts CAP_SYS_RESOURCE and CAP_SYS_ADMIN.
bool PipeLimitsExempt() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return false;
  char line[256];
  unsigned long long caps = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::sscanf(line, "CapEff: %llx", &caps) == 1) break;
  }
  std::fclose(f);
  constexpr unsigned long long kSysAdmin = 1ull << 21, kSysResource = 1ull << 24;
  return (caps & (kSysAdmin | kSysResource)) != 0;
}

int64_t MemTotalBytes() {
  FILE* f = std::fopen("/proc/meminfo", "r");
  if (f == nullptr) return -1;
  long long kib = -1;
  if (std::fscanf(f, "MemTotal: %lld kB", &kib) != 1) kib = -1;
  std::fclose(f);
  return kib > 0 ? kib * 1024 : -1;
}

}  // namespace

void InitPipeBudget(PipeBudget& budget, size_t requestedSize, int64_t requestedBudget) {
  size_t target = requestedSize > 0 ? requestedSize : (1u << 20);
  int64_t maxSize = ReadProcNumber("/proc/sys/fs/pipe-max-size");
  if (maxSize > 0 && target > static_cast<size_t>(maxSize)) target = static_cast<size_t>(maxSize);
  if (target < kMinPipe) target = kMinPipe;
  budget.targetSize = target;
  if (requestedBudget > 0) {
    budget.budgetBytes = requestedBudget;
  } else {
    // Unprivileged users get small pipes once their pipes pass pipe-user-pages-soft; keep to half of it so the
    // rest of the process (and other processes of the user) still get pipes.
    int64_t softPages = ReadProcNumber("/proc/sys/fs/pipe-user-pages-soft");
    long page = sysconf(_SC_PAGESIZE);
    budget.budgetBytes = softPages > 0 ? softPages * page / 2 : (int64_t{1} << 30);
    // Exempt from the soft limit, the budget only bounds memory: pipes hold bytes in flight, as HAProxy's
    // maxpipes × pipesize does. 1/32 of the RAM, at most 1 GiB: 100 busy streams keep 1 MiB pipes on a few GiB.
    int64_t ram = MemTotalBytes();
    if (PipeLimitsExempt() && ram > 0) {
      budget.budgetBytes = std::max(budget.budgetBytes, std::min(ram / 32, int64_t{1} << 30));
    }
    if (budget.budgetBytes < static_cast<int64_t>(target)) budget.budgetBytes = static_cast<int64_t>(target);
  }
}

PipePool::~PipePool() {
  for (Pipe& p : free_) {
    budget_.pipesPooled.fetch_sub(1, std::memory_order_relaxed);
    Destroy(p);
  }
  free_.clear();
}

size_t PipePool::FairSize() const {
  int64_t wanting = budget_.pipesInUse.load(std::memory_order_relaxed) +
                    budget_.starved.load(std::memory_order_relaxed) + 1;
  int64_t share = budget_.budgetBytes / wanting;
  size_t size = budget_.targetSize;
  while (size > kMinPipe && static_cast<int64_t>(size) > share) size /= 2;
  return size;
}

bool PipePool::Acquire(Pipe& out) {
  const size_t fair = FairSize();
  if (!free_.empty()) {
    out = free_.back();
    free_.pop_back();
    budget_.pipesPooled.fetch_sub(1, std::memory_order_relaxed);
    budget_.pipesInUse.fetch_add(1, std::memory_order_relaxed);
    budget_.reused.fetch_add(1, std::memory_order_relaxed);
    // Shrink at once, grow only for a share four times larger: a pipe count near a boundary causes no fcntl churn.
    if (out.capacity > fair) {
      Resize(out, fair);
    } else if (2 * out.capacity < fair) {
      for (size_t want = fair; want > out.capacity && !Resize(out, want); want /= 2) {
      }
    }
    return true;
  }
  if (!Create(out, fair)) {
    budget_.unavailable.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  budget_.pipesInUse.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void PipePool::Release(Pipe& pipe, size_t bytesHeld) {
  if (!pipe.valid()) return;
  budget_.pipesInUse.fetch_sub(1, std::memory_order_relaxed);
  if (bytesHeld > 0) {
    budget_.discardedFull.fetch_add(1, std::memory_order_relaxed);
    Destroy(pipe);
  } else if (free_.size() < budget_.maxPooledPerLoop) {
    // A pipe sized when few were in use gives its surplus back before it waits in the pool.
    size_t fair = FairSize();
    if (pipe.capacity > fair) Resize(pipe, fair);
    free_.push_back(pipe);
    budget_.pipesPooled.fetch_add(1, std::memory_order_relaxed);
  } else {
    Destroy(pipe);
  }
  pipe = Pipe();
}

bool PipePool::Resize(Pipe& pipe, size_t size) {
  const int64_t grow = static_cast<int64_t>(size) - static_cast<int64_t>(pipe.capacity);
  if (grow > 0) {
    int64_t open = budget_.bytesOpen.load(std::memory_order_relaxed);
    do {
      if (open + grow > budget_.budgetBytes) return false;
    } while (!budget_.bytesOpen.compare_exchange_weak(open, open + grow));
  }
  int actual = fcntl(pipe.writeFd, F_SETPIPE_SZ, static_cast<int>(size));
  if (actual <= 0) {
    if (grow > 0) budget_.bytesOpen.fetch_sub(grow, std::memory_order_relaxed);
    return false;
  }
  // Account what the kernel actually gave.
  const int64_t change = static_cast<int64_t>(actual) - static_cast<int64_t>(pipe.capacity);
  budget_.bytesOpen.fetch_add(change - std::max(grow, int64_t{0}), std::memory_order_relaxed);
  pipe.capacity = static_cast<size_t>(actual);
  budget_.resized.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool PipePool::Create(Pipe& out, size_t size) {
  if (budget_.maxPipes > 0 && budget_.pipesOpen.load(std::memory_order_relaxed) >= budget_.maxPipes) return false;
  // Reserve capacity from the budget first, halving the wish until it fits.
  for (;;) {
    int64_t open = budget_.bytesOpen.load(std::memory_order_relaxed);
    if (open + static_cast<int64_t>(size) <= budget_.budgetBytes) {
      if (budget_.bytesOpen.compare_exchange_weak(open, open + static_cast<int64_t>(size))) break;
      continue;
    }
    if (size <= kMinPipe) return false;
    size /= 2;
  }
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    budget_.bytesOpen.fetch_sub(static_cast<int64_t>(size), std::memory_order_relaxed);
    return false;
  }
  // The kernel may refuse a size (pipe-max-size, per-user limits): halve until it agrees.
  size_t reserved = size;
  int actual = -1;
  for (size_t want = size; want >= kMinPipe; want /= 2) {
    actual = fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(want));
    if (actual > 0) break;
  }
  if (actual <= 0) actual = fcntl(fds[1], F_GETPIPE_SZ);
  if (actual <= 0) {
    close(fds[0]);
    close(fds[1]);
    budget_.bytesOpen.fetch_sub(static_cast<int64_t>(reserved), std::memory_order_relaxed);
    return false;
  }
  // Keep the budget exact: account what the kernel actually gave.
  budget_.bytesOpen.fetch_add(static_cast<int64_t>(actual) - static_cast<int64_t>(reserved),
                              std::memory_order_relaxed);
  out.readFd = fds[0];
  out.writeFd = fds[1];
  out.capacity = static_cast<size_t>(actual);
  budget_.pipesOpen.fetch_add(1, std::memory_order_relaxed);
  budget_.created.fetch_add(1, std::memory_order_relaxed);
  if (out.capacity < budget_.targetSize) budget_.reduced.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void PipePool::Destroy(Pipe& pipe) {
  if (!pipe.valid()) return;
  close(pipe.readFd);
  close(pipe.writeFd);
  budget_.bytesOpen.fetch_sub(static_cast<int64_t>(pipe.capacity), std::memory_order_relaxed);
  budget_.pipesOpen.fetch_sub(1, std::memory_order_relaxed);
  pipe = Pipe();
}

}  // namespace tidegate
