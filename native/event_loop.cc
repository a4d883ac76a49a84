#include "event_loop.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "tg_assert.h"

namespace tidegate {

namespace {

constexpr int64_t kTickNs = 100 * 1000000LL;  // stats batch and timeout check period
// Close records wait at most this long for the next flush once one went out: under churn the JS thread then wakes
// about once per gap with many closes, not once per loop iteration with a few (see Run).
constexpr int64_t kCloseGapNs = 1000000LL;
// Fewer grants than this left on a listener after a take: the batch goes to JS at once, so it grants again before
// connections have to wait for its answer (JS keeps 64 ahead).
constexpr size_t kGrantsLow = 16;
constexpr int kMaxRounds = 16;                // fill/drain rounds per pump before yielding to other relays
constexpr size_t kCopyChunk = 64 * 1024;
constexpr int kMaxEvents = 256;
constexpr int64_t kQuotaPollNs = 100 * 1000000LL;  // a direction whose quota is used up looks again this often
constexpr int kMaxAccepts = 64;  // accepts per listener event (level-triggered: the rest come next iteration)
constexpr int kMaxBacklog = 4096;  // the services' listen backlog: what unlisten may find queued
// A relay fd's first registration: everything a relay may wait for. Narrowed later (Loop::Interest).
constexpr uint32_t kWideEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
// A relay's epoll data (Loop::EventKey): bit 0 set (a listener's is its aligned address, an eventfd's 0), bit 1 the
// side, then its slot in the loop's table and the low bits of its serial.
constexpr int kSlotBits = 24;
constexpr uint64_t kSlotMask = (uint64_t{1} << kSlotBits) - 1;
constexpr int kSerialShift = 2 + kSlotBits;
constexpr uint64_t kSerialMask = ~uint64_t{0} >> kSerialShift;
// Narrowing starts once a relay moved this much: a short connection wastes an event or so (measured: 1.9 more
// epoll_ctl per connection under churn when every relay narrowed), a stream wastes one per segment while blocked.
constexpr uint64_t kNarrowAfterBytes = 256 * 1024;

// A pipe holds capacity / page size slots (F_SETPIPE_SZ sizes it in pages).
static size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// The loop running on this thread, if any (set by Loop::Run): lets TG_ASSERT tell the loop thread from the JS thread.
thread_local const Loop* tCurrentLoop = nullptr;

// Tick and Close push records field by field in this order.
static_assert(kRecordId == 0 && kRecordBytesIn == 1 && kRecordBytesOut == 2 && kRecordCode == 3 && kRecordFields == 4,
              "a stats record is [id, bytesIn, bytesOut, code]");

bool IsSpliceUnsupported(int err) { return err == EINVAL || err == ENOSYS || err == EOPNOTSUPP; }

void EraseFrom(std::vector<Relay*>& list, Relay* r) {
  auto it = std::find(list.begin(), list.end(), r);
  if (it != list.end()) {
    *it = list.back();
    list.pop_back();
  }
}

}  // namespace

bool Loop::OnLoopThread() const { return tCurrentLoop == this; }

Loop::Loop(PipeBudget& budget, StatsSink& sink, AcceptedFds& accepted, Grants& grants)
    : budget_(budget), sink_(sink), accepted_(accepted), grants_(grants), pool_(budget) {}

Loop::~Loop() {
  StopAndJoin();
  if (epfd_ >= 0) close(epfd_);
  if (evfd_ >= 0) close(evfd_);
}

bool Loop::Start(std::string* error) {
  TG_ASSERT(!started_ && epfd_ < 0 && evfd_ < 0);
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) {
    *error = std::string("epoll_create1: ") + std::strerror(errno);
    return false;
  }
  evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (evfd_ < 0) {
    *error = std::string("eventfd: ") + std::strerror(errno);
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // nullptr marks the command eventfd
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev) != 0) {
    *error = std::string("epoll_ctl(eventfd): ") + std::strerror(errno);
    return false;
  }
  thread_ = std::thread([this] { Run(); });
  pthread_setname_np(thread_.native_handle(), "tg-relay");  // named in perf, top -H and /proc/<pid>/task
  started_ = true;
  return true;
}

void Loop::Post(const Command& command) {
  TG_ASSERT(!OnLoopThread());  // the JS thread's way in; the loop never posts to itself
  TG_ASSERT(command.kind != Command::kStart ||
            (command.relay != nullptr && command.relay->id == command.id && command.relay->fds[kClient] >= 0 &&
             !command.relay->closed && (command.relay->fds[kTarget] >= 0) == (command.relay->phase == kRelaying)));
  TG_ASSERT(command.kind != Command::kRedial || command.dial != nullptr);
  TG_ASSERT(command.kind != Command::kClose || (command.reason >= 0 && command.reason < kReasonCount));
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    wake = queue_.empty();  // the loop takes the whole queue per wake-up: one eventfd write per batch is enough
    queue_.push_back(command);
  }
  if (!wake) return;
  uint64_t one = 1;
  ssize_t ignored = write(evfd_, &one, sizeof(one));
  (void)ignored;
}

void Loop::StopAndJoin() {
  TG_ASSERT(!OnLoopThread());  // joining itself would deadlock
  if (!started_) return;
  Post(Command{Command::kShutdown, nullptr, 0, 0, nullptr, nullptr});
  thread_.join();
  started_ = false;
  // Relays posted after the thread stopped never ran: close their fds.
  std::lock_guard<std::mutex> lock(mutex_);
  for (Command& c : queue_) {
    if (c.kind == Command::kStart && c.relay != nullptr) {
      for (int fd : c.relay->fds) {
        if (fd >= 0) close(fd);
      }
      delete c.relay;
    }
    if (c.kind == Command::kListen) close(c.reason);
    if (c.done != nullptr) c.done->set_value();
    delete c.dial;
    delete c.farewell;
  }
  queue_.clear();
}

int Loop::ComputeTimeoutMs() {
  if (!again_.empty()) return 0;
  if (relays_.empty() && batch_.empty() && restingListeners_ == 0) return -1;
  int64_t until = nextTickNs_;
  if (batch_.size() > lazyFields_) until = std::min(until, lastFlushNs_ + kCloseGapNs);
  for (Relay* r : throttled_) until = std::min(until, r->wakeAtNs);
  int64_t delta = until - NowNs();
  if (delta <= 0) return 0;
  return static_cast<int>((delta + 999999) / 1000000);
}

void Loop::Run() {
  tCurrentLoop = this;
  epoll_event events[kMaxEvents];
  nextTickNs_ = NowNs() + kTickNs;
  while (!stopping_) {
    int n = epoll_wait(epfd_, events, kMaxEvents, ComputeTimeoutMs());
    if (n < 0 && errno != EINTR) break;
    now_ = NowNs();
    bool commands = false;
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == nullptr) {
        commands = true;
        continue;
      }
      const uint64_t key = events[i].data.u64;
      if ((key & 1) == 0) {
        Accept(static_cast<Listener*>(events[i].data.ptr), kMaxAccepts);
        // Connections waiting for an answer go to JS now, not after this iteration's relay work: their admission (and
        // the dial that answers it) overlaps with that work instead of waiting for it. Granted ones need no answer.
        if (urgent_) Flush();
        continue;
      }
      // Nullptr: the relay closed (earlier in this batch, or its registration outlived it, see CloseFd).
      if (Relay* r = Resolve(key)) OnEvents(r, static_cast<int>((key >> 1) & 1), events[i].events);
    }
    if (commands && DrainCommands()) stopping_ = true;
    if (!again_.empty()) {
      std::vector<Relay*> runs;
      runs.swap(again_);
      for (Relay* r : runs) {
        r->queuedAgain = false;
        if (!r->closed) Pump(r);
      }
    }
    now_ = NowNs();
    for (size_t i = 0; i < throttled_.size();) {
      Relay* r = throttled_[i];
      if (r->wakeAtNs <= now_) {
        throttled_[i] = throttled_.back();
        throttled_.pop_back();
        r->throttled = false;
        Pump(r);
      } else {
        i++;
      }
    }
    bool tick = now_ >= nextTickNs_;
    if (tick) {
      Tick();
      nextTickNs_ = now_ + kTickNs;
    }
    // `admitted` records alone wait for the next record JS must have soon (a close, an accept to answer) or the tick:
    // the grant held the connection's place, so JS's bookkeeping may lag; the JS thread wakes once, not twice.
    // Closes (and live counters) go at once unless a batch went out less than kCloseGapNs ago; then they wait for
    // the gap (ComputeTimeoutMs), gathering the closes of several iterations. Records JS must answer or act on
    // (accepted, dial outcomes, listener records) are `urgent_` and go now.
    if (tick || urgent_ || (batch_.size() > lazyFields_ && now_ - lastFlushNs_ >= kCloseGapNs)) Flush();
    for (Relay* r : graveyard_) delete r;
    graveyard_.clear();
  }
  // Shutdown: every live relay ends with reason `shutdown`; their records go out before the thread ends.
  now_ = NowNs();
  std::vector<Relay*> all;
  all.reserve(relays_.size());
  for (auto& entry : relays_) all.push_back(entry.second);
  for (Relay* r : all) Close(r, kShutdown, -1);
  std::vector<Listener*> listening;
  for (auto& entry : listeners_) listening.push_back(entry.second);
  for (Listener* l : listening) CloseListener(l);
  Flush();
  for (Relay* r : graveyard_) delete r;
  graveyard_.clear();
}

bool Loop::DrainCommands() {
  TG_ASSERT(OnLoopThread());
  uint64_t count;
  ssize_t ignored = read(evfd_, &count, sizeof(count));
  (void)ignored;
  std::vector<Command> commands;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    commands.swap(queue_);
  }
  bool stop = false;
  for (size_t i = 0; i < commands.size(); i++) {
    Command& c = commands[i];
    switch (c.kind) {
      case Command::kStart:
        if (stop) {
          // Started after shutdown was asked: end it right away with reason `shutdown`.
          relays_.emplace(c.relay->id, c.relay);
          live_.fetch_add(1, std::memory_order_relaxed);
          Close(c.relay, kShutdown, -1);
        } else {
          StartRelay(c.relay);
        }
        break;
      case Command::kClose: {
        auto it = relays_.find(c.id);
        if (it != relays_.end()) {
          Relay* r = it->second;
          if (c.farewell != nullptr && r->phase != kRelaying && r->fds[kClient] >= 0) {
            // A protocol error reply (a few hundred bytes at most) to a client that has received nothing yet: its
            // socket buffer takes it whole, so one non-blocking send is enough. What the client sent is read and
            // dropped first, so that the close sends a FIN after the reply rather than a reset that could lose it.
            char scratch[4096];
            for (int i = 0; i < 16 && recv(r->fds[kClient], scratch, sizeof(scratch), MSG_DONTWAIT) > 0; i++) {
            }
            ssize_t ignored = send(r->fds[kClient], c.farewell->data(), c.farewell->size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)ignored;
          }
          Close(r, c.reason, -1);
        }
        delete c.farewell;
        break;
      }
      case Command::kRedial: {
        // The relay may have closed meanwhile (its client went away): then its record is on the way and this is moot.
        auto it = relays_.find(c.id);
        if (!stop && it != relays_.end() && it->second->phase == kAwaitingTarget) {
          it->second->dial = *c.dial;
          BeginConnect(it->second);
        }
        delete c.dial;
        break;
      }
      case Command::kShutdown:
        stop = true;
        break;
      case Command::kListen:
        if (stop) close(c.reason);
        else Listen(c.id, c.reason, c.tune, c.shared);
        break;
      case Command::kUnlisten:
        Unlisten(c.id);
        if (c.done != nullptr) c.done->set_value();
        break;
    }
  }
  return stop;
}

void Loop::StartRelay(Relay* r) {
  TG_ASSERT(OnLoopThread());
  TG_ASSERT(!r->closed && r->fds[kClient] >= 0 && relays_.count(r->id) == 0);
  TG_ASSERT((r->fds[kTarget] < 0) == (r->phase == kAwaitingTarget));
  relays_.emplace(r->id, r);
  live_.fetch_add(1, std::memory_order_relaxed);
  r->lastActiveNs = now_;
  Register(r);
  const bool dial = r->fds[kTarget] < 0;
  for (int s = 0; s < (dial ? 1 : 2); s++) {
    if (!Watch(r, s)) {
      Close(r, s == kClient ? kClientReset : kTargetReset, s);
      return;
    }
  }
  if (dial) {
    // A fresh epoll registration reports what the client already holds (EPOLL_CTL_ADD polls the socket), so the
    // first pump waits for that event instead of splicing an empty socket (EAGAIN) right after the connect.
    r->dirs[kIn].srcReadable = false;
    BeginConnect(r);
  } else {
    Pump(r);
  }
}

// The clients' options as the dial's tuneClient sets them (TuneSocket, asNode), on the listening socket: Linux clones
// the listener into each accepted socket, options included, so a connection needs none of these calls. Whether they
// really arrive is checked on the first accepted socket; if not, each dial sets them as before.
static void SetClientOptions(int fd, int64_t tune) {
  int one = 1;
  int keepAliveSec = static_cast<int>(tune >> 1);
  if (tune & 1) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (keepAliveSec > 0) {
    int interval = 1;
    int count = 10;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &keepAliveSec, sizeof(keepAliveSec));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
  }
}

static bool HasClientOptions(int fd, int64_t tune) {
  int v[5] = {0, 0, 0, 0, 0};
  socklen_t len = sizeof(int);
  getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v[0], &len);
  len = sizeof(int);
  getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v[1], &len);
  int keepAliveSec = static_cast<int>(tune >> 1);
  if ((v[0] != 0) != ((tune & 1) != 0) || (v[1] != 0) != (keepAliveSec > 0)) return false;
  if (keepAliveSec == 0) return true;
  len = sizeof(int);
  getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v[2], &len);
  len = sizeof(int);
  getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v[3], &len);
  len = sizeof(int);
  getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v[4], &len);
  return v[2] == keepAliveSec && v[3] == 1 && v[4] == 10;
}

void Loop::Listen(uint64_t id, int fd, int64_t tune, bool shared) {
  TG_ASSERT(OnLoopThread() && listeners_.count(id) == 0);
  Listener* l = new Listener();
  l->id = id;
  l->fd = fd;
  l->tune = tune;
  l->shared = shared;
  SetClientOptions(fd, tune);
  listeners_.emplace(id, l);
  if (!WatchListener(l, true)) {
    int err = errno;
    batch_.insert(batch_.end(), {static_cast<double>(id), static_cast<double>(err), 0, static_cast<double>(kAcceptFailed)});
    urgent_ = true;
  }
}

// What the listener's queue still holds is accepted first, as Node would have (it accepts as soon as it polls): JS
// admits those connections (a re-bind, a handler restart) or refuses them (a stop), instead of the kernel resetting
// them when the socket closes. Not on a shared socket: closing our fd does not close it, and what waits in its queue
// belongs to the processes still accepting on it (a fleet's replacement worker).
void Loop::Unlisten(uint64_t id) {
  auto it = listeners_.find(id);
  if (it == listeners_.end()) return;
  if (!it->second->shared) Accept(it->second, kMaxBacklog);
  CloseListener(it->second);
}

void Loop::CloseListener(Listener* l) {
  WatchListener(l, false);
  if (l->resumeAtNs != 0) restingListeners_--;
  close(l->fd);
  grants_.Drop(l->id);  // JS forgets them at the record below
  listeners_.erase(l->id);
  batch_.insert(batch_.end(), {static_cast<double>(l->id), 0, 0, static_cast<double>(kUnlistened)});
  urgent_ = true;
  delete l;
}

// Level-triggered: a listener with more waiting than one event's accepts is reported again.
bool Loop::WatchListener(Listener* l, bool on) {
  if (l->watching == on) return true;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = l;
  if (epoll_ctl(epfd_, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, l->fd, &ev) != 0) return false;
  l->watching = on;
  return true;
}

// Accepts what waits (up to kMaxAccepts). A connection that finds a grant (grants.h) is dialed at once and JS hears
// of it after (`admitted`); any other is posted to JS, which decides admission and answers with dial(accepted) or
// settleAccepted. The client's TCP options are set by that dial (tuneClient), on this thread.
void Loop::Accept(Listener* l, int max) {
  TG_ASSERT(OnLoopThread());
  for (int i = 0; i < max; i++) {
    sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd = accept4(l->fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      // The peer gave up while queued, or a signal: the next one (as libuv does).
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
      if (err == EINVAL) {
        // Not listening any more: JS shut it down (unlisten follows) or it broke; either way stop watching it.
        WatchListener(l, false);
        return;
      }
      double paused = 0;
      if (err == EMFILE || err == ENFILE) {
        // Out of fds: the connections wait in the backlog while live relays finish and free some.
        WatchListener(l, false);
        if (l->resumeAtNs == 0) restingListeners_++;
        l->resumeAtNs = now_ + kAcceptPauseMs * 1000000LL;
        acceptPauses_.fetch_add(1, std::memory_order_relaxed);
        paused = 1;
      }
      batch_.insert(batch_.end(), {static_cast<double>(l->id), static_cast<double>(err), paused,
                                   static_cast<double>(kAcceptFailed)});
      urgent_ = true;
      return;
    }
    char host[INET6_ADDRSTRLEN] = "";
    int port = 0;
    if (ss.ss_family == AF_INET) {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
      port = ntohs(v4->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
      port = ntohs(v6->sin6_port);
    }
    char label[INET6_ADDRSTRLEN + 8];
    int n = std::snprintf(label, sizeof(label), "%s:%d", host, port);
    if (!l->checked) {
      l->checked = true;
      l->inherits = HasClientOptions(fd, l->tune);
    }
    size_t left = 0;
    if (Relay* g = grants_.Take(l->id, label, static_cast<size_t>(n), &left)) {
      // Its record first: the relay's own (a failed connect, its close) must reach JS after it. The take and its
      // label are in the grants' log, which JS reads at this record or sooner (when it counts): no label here.
      bool alone = batch_.size() == lazyFields_;
      batch_.insert(batch_.end(), {static_cast<double>(l->id), static_cast<double>(g->id), 0,
                                   static_cast<double>(kAdmitted)});
      if (alone) lazyFields_ = batch_.size();
      // Running low (JS grants again when it hears of takes): it hears now, not after the close gap or the tick.
      if (left < kGrantsLow) urgent_ = true;
      g->fds[kClient] = fd;
      g->dirs[kIn].src = fd;
      g->dirs[kOut].dst = fd;
      g->sole[kClient] = true;
      // Options it inherited from its listener need not be set again.
      if (g->tuneClient && l->inherits && l->tune == TuneKey(g->noDelay, g->keepAliveSec)) g->tuneClient = false;
      StartRelay(g);
      continue;
    }
    labels_.append(label, static_cast<size_t>(n));
    accepted_.Add(fd, l->inherits ? l->tune : kUntuned);
    batch_.insert(batch_.end(), {static_cast<double>(l->id), static_cast<double>(fd), static_cast<double>(n),
                                 static_cast<double>(kAccepted)});
    urgent_ = true;
  }
}

// Epoll data cannot dangle: it names the relay by slot and serial, not by address. A registration may outlive its
// relay (see CloseFd); its events then resolve to no relay, or a slot's next relay has another serial.
void Loop::Register(Relay* r) {
  TG_ASSERT(r->serial == 0);
  if (freeSlots_.empty()) {
    freeSlots_.push_back(static_cast<uint32_t>(slots_.size()));
    slots_.push_back(nullptr);
  }
  r->slot = freeSlots_.back();
  freeSlots_.pop_back();
  r->serial = nextSerial_++;
  slots_[r->slot] = r;
}

void Loop::Unregister(Relay* r) {
  if (r->serial == 0) return;
  slots_[r->slot] = nullptr;
  freeSlots_.push_back(r->slot);
  r->serial = 0;
}

uint64_t Loop::EventKey(const Relay* r, int side) {
  return 1 | (static_cast<uint64_t>(side) << 1) | (static_cast<uint64_t>(r->slot) << 2) |
         ((r->serial & kSerialMask) << kSerialShift);
}

Relay* Loop::Resolve(uint64_t key) const {
  const uint64_t slot = (key >> 2) & kSlotMask;
  if (slot >= slots_.size()) return nullptr;
  Relay* r = slots_[slot];
  if (r == nullptr || (r->serial & kSerialMask) != key >> kSerialShift) return nullptr;
  return r;
}

bool Loop::Watch(Relay* r, int side) {
  // More relays at once than slots (16 M, past any fd limit): refused like a failed registration.
  if (r->slot > kSlotMask) return false;
  epoll_event ev{};
  ev.events = kWideEvents;
  ev.data.u64 = EventKey(r, side);
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, r->fds[side], &ev) != 0) return false;
  r->watched[side] = kWideEvents;
  return true;
}

// The events side `s` must report before the loop may sleep: bytes (and FIN) once the direction reading it has seen
// EAGAIN, write space while bytes wait for it. EPOLLERR and EPOLLHUP are always reported. A direction that stopped
// reading with bytes still there (its pipe full, waiting for tokens or its quota) needs no read event: the drain,
// the timer or the run-again list brings it back, and it reads until EAGAIN again.
static uint32_t NeededEvents(const Relay* r, int s) {
  const Direction& from = r->dirs[s];   // reads side s
  const Direction& to = r->dirs[1 - s];  // writes side s
  uint32_t events = EPOLLET;
  if (!from.srcEof && !from.srcReadable) events |= EPOLLIN | EPOLLRDHUP;
  if (!to.shutDone && (to.inPipe > 0 || to.BufPending() > 0)) events |= EPOLLOUT;
  return events;
}

// Keeps each fd registered for at least what the relay waits for (a missing event is added at once: EPOLL_CTL_MOD
// reports it if it is already pending, so nothing is lost), and, when `narrow`, for nothing more. Narrowing is done
// only after an event that found nothing to do: with edge triggering every arriving segment wakes a sleeping loop,
// so a stream whose pipe is full and whose destination is slow would wake once per segment of its source for
// nothing (and a socket's stale read edge is reported as "writable" when EPOLLOUT is registered). A short
// connection is never narrowed (kNarrowAfterBytes), so it makes no epoll_ctl beyond the add and the delete.
void Loop::Interest(Relay* r, bool narrow) {
  for (int s = 0; s < 2; s++) {
    const uint32_t need = NeededEvents(r, s);
    const uint32_t want = narrow ? need : (r->watched[s] | need);
    if (want == r->watched[s]) continue;
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = EventKey(r, s);
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, r->fds[s], &ev) == 0) r->watched[s] = want;
  }
}

// Deregisters, then closes; an fd the loop holds alone (`sole`, Relay::sole) is just closed. close() drops the epoll
// registration only when it releases the last reference to the file description. Node's fd of a handed-over socket
// lives until the JS thread destroys that socket (possibly after this loop closed the relay): such a registration
// would report the socket's events for as long, so it is deleted first. A sole fd's registration goes with its
// close, except while a child between fork and exec holds a copy of every fd: the registration then lasts until the
// exec, and its events name a relay that is gone (Resolve finds none; the epoll data is a slot and a serial, never an
// address, so nothing is read from freed memory). That spares a syscall per fd of every short connection.
// EPOLL_CTL_DEL of an fd that was never added (a failed Watch) fails with ENOENT, harmlessly.
void Loop::CloseFd(int fd, bool sole) {
  if (!sole) epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
}

// An engine-side dial: a non-blocking connect whose outcome arrives as an epoll event (EPOLLOUT, then SO_ERROR).
// Node never builds a socket object for the target; JS only hears of a failure (to pick the next target).
// The dial's TCP options on a socket (errors ignored, as Node ignores them: a Unix socket refuses TCP options).
// `asNode`: keep-alive probes as Node's setKeepAlive sets them (libuv: every second, ten times), for a client Node
// used to set up itself; the target keeps the kernel's probe defaults.
static void TuneSocket(const Relay* r, int fd, bool asNode) {
  if (r->noDelay) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  if (r->keepAliveSec > 0) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &r->keepAliveSec, sizeof(r->keepAliveSec));
    if (asNode) {
      int interval = 1;
      int count = 10;
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
    }
  }
}

void Loop::BeginConnect(Relay* r) {
  TG_ASSERT(!r->closed && r->phase == kAwaitingTarget && r->fds[kTarget] < 0 && r->fds[kClient] >= 0);
  const DialSpec& d = r->dial;
  if (r->tuneClient) {
    r->tuneClient = false;  // once, not again on a redial
    TuneSocket(r, r->fds[kClient], true);
  }
  int fd = socket(d.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ConnectFailed(r, errno);
    return;
  }
  TuneSocket(r, fd, false);
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&d.addr), d.addrLen);
  int err = rc == 0 ? 0 : errno;
  if (rc != 0 && err != EINPROGRESS) {
    close(fd);
    ConnectFailed(r, err);
    return;
  }
  SetTarget(r, fd);
  if (!Watch(r, kTarget)) {
    ConnectFailed(r, errno);
    return;
  }
  if (rc == 0) {
    Connected(r);  // loopback connects may complete inside connect()
    return;
  }
  r->phase = kConnecting;
  r->connectDeadlineNs = now_ + d.timeoutMs * 1000000LL;
}

void Loop::SetTarget(Relay* r, int fd) {
  r->fds[kTarget] = fd;
  r->sole[kTarget] = fd >= 0;
  r->dirs[kIn].dst = fd;
  r->dirs[kOut].src = fd;
  // A fresh socket: writable until EAGAIN says otherwise; readable once its registration or an edge says so (the
  // target's first bytes come after the connect, as an event).
  r->dirs[kIn].dstWritable = true;
  r->dirs[kOut].srcReadable = false;
  r->dirs[kOut].srcHup = false;
}

void Loop::Connected(Relay* r) {
  TG_ASSERT(!r->closed && r->phase != kRelaying && r->fds[kTarget] >= 0);
  r->phase = kRelaying;
  r->lastActiveNs = now_;
  if (r->dial.reportConnect) Record(r, 0, kConnected);
  Pump(r);
}

void Loop::ConnectFailed(Relay* r, int err) {
  TG_ASSERT(!r->closed && r->phase != kRelaying && err != 0);
  if (r->fds[kTarget] >= 0) CloseFd(r->fds[kTarget]);  // a forked child may hold it too: deregister explicitly
  SetTarget(r, -1);
  r->phase = kAwaitingTarget;
  Record(r, static_cast<double>(err), kConnectFailed);
}

void Loop::OnDialEvents(Relay* r, int side, uint32_t events) {
  TG_ASSERT(!r->closed && r->phase != kRelaying && (side == kClient || side == kTarget));
  if (side == kClient) {
    if (events & (EPOLLERR | EPOLLHUP)) {
      // The client went away while its target was being dialed. The target may already have accepted (on a busy
      // machine its peer sees the connection before this loop sees EPOLLOUT): reset it, as once relaying.
      Close(r, kClientReset, kClient);
      return;
    }
    // The client's bytes (and a FIN) wait in its socket until the target is connected.
    if (events & (EPOLLIN | EPOLLRDHUP)) r->dirs[kIn].srcReadable = true;
    if (events & EPOLLRDHUP) r->dirs[kIn].srcHup = true;
    if (events & EPOLLOUT) r->dirs[kOut].dstWritable = true;
    return;
  }
  if (r->phase != kConnecting) return;
  // A connect that failed reports EPOLLERR or EPOLLHUP (with EPOLLOUT: the socket is shut down); EPOLLOUT alone
  // means connected, so SO_ERROR is read only with one of them.
  int err = 0;
  if (events & (EPOLLERR | EPOLLHUP)) {
    socklen_t len = sizeof(err);
    if (getsockopt(r->fds[kTarget], SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  }
  if (err != 0) {
    ConnectFailed(r, err);
  } else if (events & EPOLLOUT) {
    if (events & (EPOLLIN | EPOLLRDHUP)) r->dirs[kOut].srcReadable = true;
    if (events & EPOLLRDHUP) r->dirs[kOut].srcHup = true;
    Connected(r);
  } else if (events & (EPOLLERR | EPOLLHUP)) {
    ConnectFailed(r, ECONNREFUSED);
  }
}

void Loop::OnEvents(Relay* r, int s, uint32_t events) {
  TG_ASSERT(OnLoopThread());
  TG_ASSERT(r != nullptr && (s == kClient || s == kTarget));
  if (r->closed || r->fds[s] < 0) return;
  if (r->phase != kRelaying) {
    OnDialEvents(r, s, events);
    return;
  }
  if (events & EPOLLERR) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(r->fds[s], SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
      Close(r, s == kClient ? kClientReset : kTargetReset, s);
      return;
    }
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) r->dirs[s].srcReadable = true;
  if (events & (EPOLLRDHUP | EPOLLHUP)) r->dirs[s].srcHup = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
    r->dirs[1 - s].dstWritable = true;
    r->dirs[1 - s].sentShort = false;
  }
  Pump(r, true);
}

void Loop::Pump(Relay* r, bool fromEvent) {
  TG_ASSERT(!r->closed && r->phase == kRelaying && r->fds[kClient] >= 0 && r->fds[kTarget] >= 0);
  const bool progress = PumpRounds(r);
  if (r->closed) return;
  const bool stream = r->dirs[kIn].bytes + r->dirs[kOut].bytes >= kNarrowAfterBytes;
  Interest(r, fromEvent && !progress && stream);
}

bool Loop::PumpRounds(Relay* r) {
  r->dirs[kIn].tookTokens = false;
  r->dirs[kOut].tookTokens = false;
  for (int round = 0; round < kMaxRounds; round++) {
    bool progress = PumpDirection(r, kIn);
    if (r->closed) return true;
    progress = PumpDirection(r, kOut) || progress;
    if (r->closed) return true;
    if (!progress) {
      if (r->dirs[kIn].shutDone && r->dirs[kOut].shutDone) {
        Close(r, kDone, -1);
      } else if (r->dirs[kIn].tookTokens || r->dirs[kOut].tookTokens) {
        // A rate-limited direction had its turn; it takes the next chunk after the other relays sharing the bucket.
        if (!r->queuedAgain && !r->throttled) {
          r->queuedAgain = true;
          again_.push_back(r);
        }
      }
      return round > 0;
    }
  }
  // Still busy: let other relays run, come back before sleeping.
  if (!r->queuedAgain) {
    r->queuedAgain = true;
    again_.push_back(r);
  }
  return true;
}

bool Loop::PumpDirection(Relay* r, int d) {
  Direction& D = r->dirs[d];
  const int dstSide = 1 - d;
  uint64_t before = D.bytes;
  bool progress = Drain(r, D, dstSide);
  if (r->closed) return false;
  // Bytes waiting for a full destination: the source keeps its own until the destination takes these (EPOLLOUT
  // brings the direction back, still readable). Topping the pipe up behind a blocked reader made a second, smaller
  // read per wake-up, each window update of it sending the source's queued bytes from this thread.
  if (!D.srcEof && D.srcReadable && (D.inPipe == 0 || D.dstWritable)) {
    progress = Fill(r, D, d) || progress;
    if (r->closed) return false;
  }
  if (D.srcEof && !D.shutDone && D.inPipe == 0 && D.BufPending() == 0) {
    // Source finished and everything it sent is delivered: pass the half-close on. When the other way is done too,
    // the close that follows sends this FIN (nothing unread is left in dst: its own source reached EOF), unless
    // another fd keeps the socket open (see Relay::sole).
    if (!r->dirs[1 - d].shutDone || !r->sole[dstSide]) shutdown(D.dst, SHUT_WR);
    D.shutDone = true;
    progress = true;
    if (r->halfCloseMs > 0 && !r->dirs[1 - d].shutDone) r->halfCloseAtNs = now_ + r->halfCloseMs * 1000000LL;
  }
  if (D.bytes != before) {
    r->lastActiveNs = now_;
    r->dirty = true;
  }
  return progress;
}

bool Loop::Drain(Relay* r, Direction& D, int dstSide) {
  bool progress = false;
  // Once the source sent FIN, the half-close follows these bytes: "more" lets the FIN ride in their segment
  // (shutdown() pushes whatever is corked), which spares both peers a wake-up on short connections. Not for a
  // rate-limited (or quota-bound) direction: its next bytes may wait, and corked bytes would wait with them.
  const bool more = D.srcHup && D.bucket == nullptr && D.quota == nullptr;
  while (D.BufPending() > 0 && D.dstWritable) {
    ssize_t n = send(D.dst, D.buf.get() + D.bufOff, D.BufPending(), MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0));
    if (n > 0) {
      D.bufOff += static_cast<size_t>(n);
      D.bytes += static_cast<uint64_t>(n);
      progress = true;
      if (D.bufOff == D.bufLen) {
        D.buf.reset();  // held only while it carries data
        D.bufLen = D.bufOff = 0;
      }
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      D.dstWritable = false;
    } else if (errno != EINTR) {
      Close(r, dstSide == kClient ? kClientReset : kTargetReset, dstSide);
      return false;
    }
  }
  if (D.BufPending() > 0) return progress;  // older bytes first
  while (D.inPipe > 0 && D.dstWritable) {
    ssize_t n = splice(D.pipe.readFd, nullptr, D.dst, nullptr, D.inPipe,
                       SPLICE_F_NONBLOCK | SPLICE_F_MOVE | (more ? SPLICE_F_MORE : 0));
    if (n > 0) {
      const bool cut = static_cast<size_t>(n) < D.inPipe;
      D.inPipe -= static_cast<size_t>(n);
      D.bytes += static_cast<uint64_t>(n);
      if (D.mayBeFull) {
        D.mayBeFull = false;
        D.srcReadable = true;  // the slots may have been what stopped it: there is room now
      }
      progress = true;
      if (cut) {
        // A splice into a non-blocking socket stops short where its send buffer filled: the kernel then marked it
        // (SOCK_NOSPACE), so the room its reader frees raises EPOLLOUT. The splice that would only return EAGAIN is
        // spared: a third of a stream's splices when its reader is the slower end. A signal can cut a splice short
        // too, without that mark: Tick tries again if no EPOLLOUT came.
        D.dstWritable = false;
        D.sentShort = true;
      }
    } else if (n == 0) {
      break;  // not expected with data in the pipe; try again on the next event
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      D.dstWritable = false;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && IsSpliceUnsupported(errno)) {
      // The destination refuses splice: move what the pipe holds into a buffer and copy from now on.
      std::unique_ptr<char[]> held(new char[D.inPipe]);
      size_t got = 0;
      while (got < D.inPipe) {
        ssize_t m = read(D.pipe.readFd, held.get() + got, D.inPipe - got);
        if (m <= 0) break;
        got += static_cast<size_t>(m);
      }
      D.buf = std::move(held);
      D.bufLen = got;
      D.bufOff = 0;
      D.inPipe = 0;
      D.mayBeFull = false;
      D.srcReadable = true;
      EnterCopyMode(r);
      return Drain(r, D, dstSide) || progress;
    } else {
      Close(r, dstSide == kClient ? kClientReset : kTargetReset, dstSide);
      return false;
    }
  }
  if (D.inPipe == 0 && D.pipe.valid()) pool_.Release(D.pipe, 0);  // no idle connection holds a pipe
  return progress;
}

bool Loop::Fill(Relay* r, Direction& D, int d) {
  if (D.bucket != nullptr) {
    if (D.tookTokens) return false;  // one limited grant per pump: relays sharing a bucket take turns
    if (D.reserved > 0 && now_ < D.reservedDueNs) {
      // Woken for another reason (the destination drained, the other direction's turn): the booked turn is later.
      Throttle(r, D.reservedDueNs - now_);
      return false;
    }
  }
  const size_t want = r->copyMode ? kCopyChunk : budget_.targetSize;
  size_t allowance = SIZE_MAX;
  size_t quotaGrant = 0;
  if (D.quota != nullptr) {
    // Sized to what is left of the user's quota. At zero the direction waits and looks again: accounting closes the
    // relay at its next sample, or raises the budget (a reload, a new period).
    quotaGrant = D.quota->Take(d, want);
    if (quotaGrant == 0) {
      if (D.reserved > 0) {
        // No turn is held while the quota keeps this direction waiting: the other relays may use it.
        D.bucket->Refund(D.reserved);
        D.reserved = 0;
      }
      Throttle(r, kQuotaPollNs);
      return false;
    }
    allowance = quotaGrant;
  }
  size_t tokens = SIZE_MAX;  // SIZE_MAX: no rate applies
  if (D.bucket != nullptr) {
    if (D.reserved > 0) {
      // The turn booked earlier is due (see rate_limit.h): used as is, without asking the bucket again.
      tokens = D.reserved;
      D.reserved = 0;
      D.tookTokens = true;
      allowance = std::min(allowance, tokens);
    } else {
      int64_t waitNs = 0;
      bool limited = false;
      tokens = D.bucket->Take(std::min(want, allowance), now_, &waitNs, &limited);
      if (!limited) {
        tokens = SIZE_MAX;
      } else if (waitNs > 0) {
        // Booked behind the relays already waiting: this direction keeps the reservation until it is due.
        D.reserved = tokens;
        D.reservedDueNs = now_ + waitNs;
        if (D.quota != nullptr) D.quota->Refund(d, quotaGrant);
        Throttle(r, waitNs);
        return false;
      } else {
        D.tookTokens = true;
        allowance = std::min(allowance, tokens);
      }
    }
  }
  size_t moved = 0;
  bool progress = Move(r, D, d, allowance, &moved);
  if (tokens != SIZE_MAX) D.bucket->Refund(tokens - moved);
  if (D.quota != nullptr) D.quota->Refund(d, quotaGrant - moved);
  return progress;
}

bool Loop::Move(Relay* r, Direction& D, int srcSide, size_t allowance, size_t* moved) {
  if (!r->copyMode && !D.pipe.valid()) SetStarved(D, !pool_.Acquire(D.pipe));
  if (r->copyMode || !D.pipe.valid()) return FillCopy(r, D, srcSide, allowance, moved);
  bool progress = false;
  size_t room = D.pipe.capacity;
  if (budget_.starved.load(std::memory_order_relaxed) > 0) {
    // Directions are copying for want of a pipe: fill no further than the fair share, so this pipe empties, goes
    // back and shrinks (pipes held full since a quieter time would otherwise keep the budget).
    room = std::min(room, pool_.FairSize());
  }
  // Asking for the pipe's room in bytes, not "whatever its slots take" (HAProxy asks for 1 GiB): a slot may hold a
  // whole skb fragment (up to 32 KiB on loopback), but at 100 streams the open-ended ask made 3x the splices, most
  // of them small refills after partial drains, for no fewer wake-ups.
  size_t want = std::min(room > D.inPipe ? room - D.inPipe : 0, allowance);
  if (want > 0) {
    ssize_t n = splice(D.src, nullptr, D.pipe.writeFd, nullptr, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n > 0) {
      *moved = static_cast<size_t>(n);
      D.inPipe += *moved;
      progress = true;
      if (*moved < want && D.inPipe < D.pipe.capacity / PageSize()) {
        // A short read into a pipe whose slots cannot all be taken (each holds a byte at least) emptied the
        // socket: bytes arriving later raise a new edge, so no splice is spent on the EAGAIN. After its FIN
        // (seen before this read) the socket is at EOF: no splice is spent on the 0 either.
        if (D.srcHup) {
          D.srcEof = true;
        } else {
          D.srcReadable = false;
        }
      }
    } else if (n == 0) {
      D.srcEof = true;
      progress = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      // With an empty pipe EAGAIN means the source is empty. With data in the pipe (which has room in bytes, or
      // nothing was asked) it mostly means the same, but it may be the pipe's slots (pages, not bytes): wait for the
      // source's next bytes either way (the pipe keeps filling while the destination is blocked, which keeps the
      // source's window open), and try again once the pipe drained some.
      D.srcReadable = false;
      D.mayBeFull = D.inPipe > 0;
    } else if (errno == EINTR) {
      progress = true;
    } else if (IsSpliceUnsupported(errno)) {
      EnterCopyMode(r);
      if (D.inPipe == 0) pool_.Release(D.pipe, 0);
      progress = true;  // retry as a copy
    } else {
      Close(r, srcSide == kClient ? kClientReset : kTargetReset, srcSide);
      return false;
    }
  }
  if (D.inPipe == 0 && D.pipe.valid()) pool_.Release(D.pipe, 0);
  return progress;
}

bool Loop::FillCopy(Relay* r, Direction& D, int srcSide, size_t allowance, size_t* moved) {
  // Copies only when nothing older is waiting, so bytes keep their order.
  if (D.BufPending() > 0 || D.inPipe > 0) return false;
  size_t want = std::min(kCopyChunk, allowance);
  std::unique_ptr<char[]> chunk(new char[want]);
  ssize_t n = read(D.src, chunk.get(), want);
  if (n > 0) {
    *moved = static_cast<size_t>(n);
    D.buf = std::move(chunk);
    D.bufLen = *moved;
    D.bufOff = 0;
    return true;
  }
  if (n == 0) {
    D.srcEof = true;
    return true;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) {
    D.srcReadable = false;
    SetStarved(D, false);  // wants nothing until its source has bytes again
    return false;
  }
  if (errno == EINTR) return true;
  Close(r, srcSide == kClient ? kClientReset : kTargetReset, srcSide);
  return false;
}

void Loop::EnterCopyMode(Relay* r) {
  if (r->copyMode) return;
  r->copyMode = true;
  copyFallbacks_.fetch_add(1, std::memory_order_relaxed);
}

void Loop::SetStarved(Direction& D, bool starved) {
  if (D.starved == starved) return;
  D.starved = starved;
  budget_.starved.fetch_add(starved ? 1 : -1, std::memory_order_relaxed);
}

void Loop::Throttle(Relay* r, int64_t waitNs) {
  TG_ASSERT(!r->closed && waitNs >= 0);
  int64_t wake = now_ + waitNs;
  if (!r->throttled || wake < r->wakeAtNs) r->wakeAtNs = wake;
  if (!r->throttled) {
    r->throttled = true;
    throttled_.push_back(r);
  }
}

void Loop::Tick() {
  TG_ASSERT(OnLoopThread());
  if (restingListeners_ > 0) {
    for (auto& entry : listeners_) {
      Listener* l = entry.second;
      if (l->resumeAtNs != 0 && now_ >= l->resumeAtNs) {
        l->resumeAtNs = 0;
        restingListeners_--;
        WatchListener(l, true);
      }
    }
  }
  std::vector<std::pair<Relay*, int>> expired;
  std::vector<Relay*> retry;
  for (auto& entry : relays_) {
    Relay* r = entry.second;
    if (r->phase != kRelaying) {
      // The connect deadline stands in for the idle timeout until the target is connected.
      if (r->phase == kConnecting && now_ >= r->connectDeadlineNs) ConnectFailed(r, ETIMEDOUT);
      continue;
    }
    if (r->idleMs > 0 && now_ - r->lastActiveNs >= r->idleMs * 1000000LL) {
      expired.emplace_back(r, kIdleTimeout);
    } else if (r->halfCloseAtNs > 0 && now_ >= r->halfCloseAtNs) {
      expired.emplace_back(r, kHalfCloseTimeout);
    } else if (r->dirty) {
      r->dirty = false;
      batch_.push_back(static_cast<double>(r->id));
      batch_.push_back(static_cast<double>(r->dirs[kIn].Relayed()));
      batch_.push_back(static_cast<double>(r->dirs[kOut].Relayed()));
      batch_.push_back(static_cast<double>(kLive));
    }
    if (r->dirs[kIn].sentShort || r->dirs[kOut].sentShort) retry.push_back(r);
  }
  for (auto& e : expired) Close(e.first, e.second, -1);
  // Directions stopped by a short splice that no EPOLLOUT followed yet: one more splice each says EAGAIN (then the
  // mark stands, EPOLLOUT will come) or moves bytes (a signal had cut it short). Blocked streams cost one splice here.
  for (Relay* r : retry) {
    if (r->closed) continue;
    for (Direction& D : r->dirs) {
      if (!D.sentShort) continue;
      D.sentShort = false;
      D.dstWritable = true;
    }
    Pump(r);
  }
}

void Loop::Close(Relay* r, int reason, int resetSide) {
  TG_ASSERT(OnLoopThread());
  TG_ASSERT(reason >= 0 && reason < kReasonCount && resetSide >= -1 && resetSide <= 1);
  if (r->closed) return;
  TG_ASSERT(relays_.count(r->id) == 1 && relays_.find(r->id)->second == r);
  r->closed = true;
  if (resetSide >= 0 && r->fds[1 - resetSide] >= 0) {
    // Pass the reset on: SO_LINGER 0 makes close() send RST instead of FIN.
    linger lg{1, 0};
    setsockopt(r->fds[1 - resetSide], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  for (int s = 0; s < 2; s++) {
    if (r->fds[s] >= 0) CloseFd(r->fds[s], r->sole[s]);  // not always the last reference (Node's fd): see CloseFd
    r->fds[s] = -1;
  }
  Unregister(r);  // its key resolves to nothing from now on, in this iteration's events too
  for (int d = 0; d < 2; d++) {
    Direction& D = r->dirs[d];
    // Bytes read but never delivered are not used: the user's other relays may move them.
    if (D.quota != nullptr) D.quota->Refund(d, D.inPipe + D.BufPending() - D.GreetingLeft());
    // A turn booked but never used goes back to the relays sharing the bucket.
    if (D.reserved > 0) D.bucket->Refund(D.reserved);
    D.reserved = 0;
    pool_.Release(D.pipe, D.inPipe);  // a pipe still holding data is closed, never pooled
    SetStarved(D, false);
    D.inPipe = 0;
    D.buf.reset();
  }
  batch_.push_back(static_cast<double>(r->id));
  batch_.push_back(static_cast<double>(r->dirs[kIn].Relayed()));
  batch_.push_back(static_cast<double>(r->dirs[kOut].Relayed()));
  batch_.push_back(static_cast<double>(r->phase == kRelaying ? reason : reason + kUnconnected));
  relays_.erase(r->id);
  live_.fetch_sub(1, std::memory_order_relaxed);
  if (r->queuedAgain) EraseFrom(again_, r);
  if (r->throttled) EraseFrom(throttled_, r);
  graveyard_.push_back(r);
}

void Loop::Record(Relay* r, double first, int code) {
  TG_ASSERT(!r->closed && (code == kConnected || code == kConnectFailed));
  batch_.push_back(static_cast<double>(r->id));
  batch_.push_back(first);
  batch_.push_back(0);
  batch_.push_back(static_cast<double>(code));
  urgent_ = true;
}

void Loop::Flush() {
  TG_ASSERT(batch_.size() % kRecordFields == 0);
  if (batch_.empty()) return;
  auto* out = new Batch();
  out->records.swap(batch_);
  out->labels.swap(labels_);
  batch_.reserve(64);
  lazyFields_ = 0;
  urgent_ = false;
  lastFlushNs_ = now_;
  sink_.Deliver(out);
}

}  // namespace tidegate
