// One epoll thread relaying many connections: edge-triggered, non-blocking splice socket -> pipe -> socket per
// direction, copy fallback where splice is refused. Commands come from the JS thread through a locked queue and an
// eventfd; counters go back in batches through a StatsSink (every ~100 ms for relays that moved bytes, and at close).
#pragma once

#include <atomic>
#include <cstdint>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "accepted_fds.h"
#include "grants.h"
#include "pipe_pool.h"
#include "relay.h"

namespace tidegate {

// One delivery to JS: records (RecordField, RecordCode and Reason in protocol.h) and the labels ("address:port") of
// the accepted connections among them, concatenated in record order.
struct Batch {
  std::vector<double> records;
  std::string labels;
};

// Receives a batch; takes ownership.
class StatsSink {
 public:
  virtual ~StatsSink() = default;
  virtual void Deliver(Batch* batch) = 0;
};

struct Command {
  enum Kind { kStart, kClose, kRedial, kShutdown, kListen, kUnlisten } kind;
  Relay* relay;    // kStart: ownership passes to the loop (fds[kTarget] -1: the loop dials relay->dial)
  uint64_t id;     // kClose, kRedial; the listener's for kListen, kUnlisten
  int reason;      // kClose; the listening fd (owned by the loop from now on) for kListen
  DialSpec* dial;  // kRedial: ownership passes to the loop
  std::string* farewell;  // kClose: bytes for the client of a relay that never connected (owned by the loop)
  std::promise<void>* done = nullptr;  // kUnlisten: set once the listening fd is closed (the caller waits)
  int64_t tune = 0;  // kListen: the clients' TuneKey (accepted_fds.h)
  bool shared = false;  // kListen: other processes hold the socket too (Listener::shared)
};

// A listening socket the loop accepts on. Its epoll data is its address (aligned: the low bit is clear, which tells
// it from a relay's key).
struct Listener {
  uint64_t id = 0;
  int fd = -1;
  bool watching = false;
  int64_t resumeAtNs = 0;  // out of fds: accepting rests until then (0 = not resting)
  int64_t tune = 0;        // the TuneKey set on the listening socket
  bool checked = false;    // whether the first accepted socket was checked for the inherited options
  bool inherits = false;   // accepted sockets have `tune` already (checked on the first one)
  bool shared = false;     // other processes accept on the socket too: its queue is theirs once we stop
};

class Loop {
 public:
  Loop(PipeBudget& budget, StatsSink& sink, AcceptedFds& accepted, Grants& grants);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  bool Start(std::string* error);
  void Post(const Command& command);
  // Closes every relay with reason `shutdown`, delivers their records and joins the thread.
  void StopAndJoin();
  int epollFd() const { return epfd_; }
  int64_t liveRelays() const { return live_.load(std::memory_order_relaxed); }
  uint64_t copyFallbacks() const { return copyFallbacks_.load(std::memory_order_relaxed); }
  uint64_t acceptPauses() const { return acceptPauses_.load(std::memory_order_relaxed); }

 private:
  void Run();
  bool DrainCommands();
  void StartRelay(Relay* r);
  bool Watch(Relay* r, int side);
  void CloseFd(int fd, bool sole = false);
  void BeginConnect(Relay* r);
  void SetTarget(Relay* r, int fd);
  void Connected(Relay* r);
  void ConnectFailed(Relay* r, int err);
  void OnDialEvents(Relay* r, int side, uint32_t events);
  void OnEvents(Relay* r, int side, uint32_t events);
  // A relay's epoll data (see Relay::slot): taken when it first registers, given back when it closes.
  void Register(Relay* r);
  void Unregister(Relay* r);
  static uint64_t EventKey(const Relay* r, int side);
  Relay* Resolve(uint64_t key) const;
  void Listen(uint64_t id, int fd, int64_t tune, bool shared);
  void Unlisten(uint64_t id);
  void CloseListener(Listener* l);
  bool WatchListener(Listener* l, bool on);
  void Accept(Listener* l, int max);
  // Moves what can move; `fromEvent`: an epoll event asked, so an event that found nothing to do narrows Interest.
  void Pump(Relay* r, bool fromEvent = false);
  bool PumpRounds(Relay* r);
  void Interest(Relay* r, bool narrow);
  bool PumpDirection(Relay* r, int d);
  bool Drain(Relay* r, Direction& D, int dstSide);
  bool Fill(Relay* r, Direction& D, int d);
  // Reads at most `allowance` bytes from the source into the pipe (or a buffer, copying); *moved says how many.
  bool Move(Relay* r, Direction& D, int srcSide, size_t allowance, size_t* moved);
  bool FillCopy(Relay* r, Direction& D, int srcSide, size_t allowance, size_t* moved);
  void EnterCopyMode(Relay* r);
  void SetStarved(Direction& D, bool starved);
  void Throttle(Relay* r, int64_t waitNs);
  void Tick();
  void Close(Relay* r, int reason, int resetSide);
  void Record(Relay* r, double first, int code);
  void Flush();
  int ComputeTimeoutMs();
  // For TG_ASSERT: true on this loop's own thread (relay state is touched there only).
  bool OnLoopThread() const;

  PipeBudget& budget_;
  StatsSink& sink_;
  AcceptedFds& accepted_;
  Grants& grants_;
  PipePool pool_;
  int epfd_ = -1;
  int evfd_ = -1;
  std::thread thread_;
  bool started_ = false;

  std::mutex mutex_;
  std::vector<Command> queue_;

  // Loop-thread state.
  int64_t now_ = 0;
  int64_t nextTickNs_ = 0;
  bool stopping_ = false;
  std::unordered_map<uint64_t, Relay*> relays_;
  std::vector<Relay*> slots_;         // registered relays by Relay::slot (nullptr: free)
  std::vector<uint32_t> freeSlots_;
  uint64_t nextSerial_ = 1;
  std::vector<Relay*> again_;      // still had work after their pump budget: run again before sleeping
  std::vector<Relay*> throttled_;  // waiting for rate-limit tokens
  std::vector<Relay*> graveyard_;  // closed during this iteration; freed at its end
  std::vector<double> batch_;
  std::string labels_;  // of the accepted connections in batch_
  size_t lazyFields_ = 0;  // batch_ holds only `admitted` records up to here: they may wait (see Run)
  bool urgent_ = false;      // batch_ holds a record JS must have now (accepted, a dial outcome, a listener's)
  int64_t lastFlushNs_ = 0;  // when the last batch went out (closes wait for kCloseGapNs after it, see Run)
  std::unordered_map<uint64_t, Listener*> listeners_;
  int restingListeners_ = 0;
  std::atomic<int64_t> live_{0};
  std::atomic<uint64_t> copyFallbacks_{0};
  std::atomic<uint64_t> acceptPauses_{0};

};

}  // namespace tidegate
