// Connections a listener accepted and JS has not answered yet (dial or settleAccepted). The loop thread adds an fd
// before its record leaves; the JS thread takes it out exactly once. An fd in here is the addon's: nothing else
// closes it, so its number cannot be reused under a record still on its way to JS. Shared by every loop thread (a
// relay's loop is chosen by its id, not by the listener that accepted its client).
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace tidegate {

// The TCP options an accepted socket already has from its listener (TuneKey below), or kUntuned.
constexpr int64_t kUntuned = -1;

// noDelay and keep-alive (seconds, 0 = off) as one comparable value.
inline int64_t TuneKey(bool noDelay, int keepAliveSec) {
  return (static_cast<int64_t>(keepAliveSec) << 1) | (noDelay ? 1 : 0);
}

class AcceptedFds {
 public:
  void Add(int fd, int64_t tuned) {
    std::lock_guard<std::mutex> lock(mutex_);
    fds_[fd] = tuned;
  }

  // True when fd was waiting for an answer: the caller owns it now. *tuned: the options it already has.
  bool Take(int fd, int64_t* tuned = nullptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = fds_.find(fd);
    if (it == fds_.end()) return false;
    if (tuned != nullptr) *tuned = it->second;
    fds_.erase(it);
    return true;
  }

  size_t Size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return fds_.size();
  }

  // Shutdown: connections never answered are reset.
  void ResetAll() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& entry : fds_) {
      int fd = entry.first;
      linger lg{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
      close(fd);
    }
    fds_.clear();
  }

 private:
  std::mutex mutex_;
  std::unordered_map<int, int64_t> fds_;
};

}  // namespace tidegate
