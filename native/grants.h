// Admissions JavaScript decided ahead for a listener (grant()): each is a relay built in full but for its client
// (target, options, limits, budget, id). At an accept the loop takes the oldest and starts it at once, so a granted
// connection is dialed without the round trip loop -> JS thread -> loop. The take is logged here (relay id and
// client label) under the same lock, and JS reads the log synchronously (takeAdmitted) whenever it must know: at the
// `admitted` record that follows in a batch, and before it answers what it counts (/status), so its counts never lag
// a connection that already carries bytes. JS takes back the newest grant when its decision would change
// (revokeGrant). Shared by the JS thread (add, take back, read the log) and the loops (take, drop).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol.h"
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

  // The oldest grant of the listener (the caller owns it), or nullptr. A take is logged with the client's label
  // (`address:port`, `n` characters) as an `admitted` record for TakeAdmitted.
  // *left: the listener's grants still waiting after this take.
  Relay* Take(uint64_t listenerId, const char* label, size_t n, size_t* left) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (count_ == 0) return nullptr;
    auto it = byListener_.find(listenerId);
    if (it == byListener_.end() || it->second.empty()) return nullptr;
    Relay* r = it->second.front();
    it->second.pop_front();
    *left = it->second.size();
    count_--;
    taken_.insert(taken_.end(), {static_cast<double>(listenerId), static_cast<double>(r->id),
                                 static_cast<double>(n), static_cast<double>(kAdmitted)});
    takenLabels_.append(label, n);
    return r;
  }

  // Moves the takes logged since the last call into `records` (`admitted` records) and `labels`; false for none.
  bool TakeAdmitted(std::vector<double>* records, std::string* labels) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (taken_.empty()) return false;
    records->swap(taken_);
    labels->swap(takenLabels_);
    taken_.clear();
    takenLabels_.clear();
    return true;
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
    taken_.clear();
    takenLabels_.clear();
  }

  size_t Size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return count_;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<uint64_t, std::deque<Relay*>> byListener_;
  size_t count_ = 0;
  std::vector<double> taken_;  // `admitted` records not read by JS yet
  std::string takenLabels_;
};

}  // namespace tidegate
