// Connections a listener accepted and JS has not answered yet (dial or settleAccepted). The loop thread adds an fd
// before its record leaves; the JS thread takes it out exactly once. An fd in here is the addon's: nothing else
// closes it, so its number cannot be reused under a record still on its way to JS. Shared by every loop thread (a
// relay's loop is chosen by its id, not by the listener that accepted its client).
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <unordered_set>

namespace tidegate {

class AcceptedFds {
 public:
  void Add(int fd) {
    std::lock_guard<std::mutex> lock(mutex_);
    fds_.insert(fd);
  }

  // True when fd was waiting for an answer: the caller owns it now.
  bool Take(int fd) {
    std::lock_guard<std::mutex> lock(mutex_);
    return fds_.erase(fd) == 1;
  }

  size_t Size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return fds_.size();
  }

  // Shutdown: connections never answered are reset.
  void ResetAll() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int fd : fds_) {
      linger lg{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
      close(fd);
    }
    fds_.clear();
  }

 private:
  std::mutex mutex_;
  std::unordered_set<int> fds_;
};

}  // namespace tidegate
