// Admissions JavaScript decided ahead for a listener (grant()): each is a relay built in full but for its client
// (target, options, limits, budget, id). At an accept the loop takes the oldest and starts it at once, so a granted
// connection is dialed without the round trip loop -> JS thread -> loop; JS hears of it afterwards (an `admitted`
// record) and does its bookkeeping then. JS takes back the newest when its decision would change (revokeGrant).
// Shared by the JS thread (add, take back) and the loops (take, drop).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "relay.h"

namespace tidegate {

class Grants {
 public:
  Grants() = default;
  Grants(const Grants&) = delete;
  Grants& operator=(const Grants&) = delete;
  ~Grants() { Clear(); }

  void Add(uint64_t listenerId, Relay* r) {
    std::lock_guard<std::mutex> lock(mutex_);
    byListener_[listenerId].push_back(r);
    count_++;
  }

  // The oldest grant of the listener (the caller owns it), or nullptr.
  Relay* Take(uint64_t listenerId) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (count_ == 0) return nullptr;
    auto it = byListener_.find(listenerId);
    if (it == byListener_.end() || it->second.empty()) return nullptr;
    Relay* r = it->second.front();
    it->second.pop_front();
    count_--;
    return r;
  }

  // The newest grant of the listener, not taken by an accept (the caller owns it), or nullptr.
  Relay* TakeBack(uint64_t listenerId) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = byListener_.find(listenerId);
    if (it == byListener_.end() || it->second.empty()) return nullptr;
    Relay* r = it->second.back();
    it->second.pop_back();
    count_--;
    return r;
  }

  // The listener closed: its grants go (JS drops its side at the listener's last record).
  void Drop(uint64_t listenerId) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = byListener_.find(listenerId);
    if (it == byListener_.end()) return;
    for (Relay* r : it->second) delete r;
    count_ -= it->second.size();
    byListener_.erase(it);
  }

  void Clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& entry : byListener_) {
      for (Relay* r : entry.second) delete r;
    }
    byListener_.clear();
    count_ = 0;
  }

  size_t Size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return count_;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<uint64_t, std::deque<Relay*>> byListener_;
  size_t count_ = 0;
};

}  // namespace tidegate
