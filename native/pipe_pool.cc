#include "pipe_pool.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <unistd.h>

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

bool PipePool::Acquire(Pipe& out) {
  if (!free_.empty()) {
    out = free_.back();
    free_.pop_back();
    budget_.pipesPooled.fetch_sub(1, std::memory_order_relaxed);
    budget_.pipesInUse.fetch_add(1, std::memory_order_relaxed);
    budget_.reused.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  if (!Create(out)) {
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
    free_.push_back(pipe);
    budget_.pipesPooled.fetch_add(1, std::memory_order_relaxed);
  } else {
    Destroy(pipe);
  }
  pipe = Pipe();
}

bool PipePool::Create(Pipe& out) {
  if (budget_.maxPipes > 0 && budget_.pipesOpen.load(std::memory_order_relaxed) >= budget_.maxPipes) return false;
  // Reserve capacity from the budget first, halving the wish until it fits.
  size_t size = budget_.targetSize;
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
