// Node-API surface of the splice relay: one Engine object per RelayEngine. It owns the loop threads, the pipe budget,
// the shared rate limits and the ThreadSafeFunction that carries stats batches to JS. TypeScript validates every
// argument before calling in (src/relay/native/engine.ts); this layer checks each slot's type and range (args.h,
// slots from protocol.h) so a wrong call is a TypeError naming the slot, never a wild fd or an overflowing deadline.
#include <napi.h>

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "args.h"
#include "byte_budget.h"
#include "event_loop.h"
#include "listen_socket.h"
#include "pipe_pool.h"
#include "protocol.h"
#include "rate_limit.h"
#include "relay.h"

namespace tidegate {

namespace {

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// Batches on their way to the JS thread. A batch flushed while an earlier one still waits for the JS thread is
// appended to it: one queued call, one wake-up and one Float64Array for all of them (under churn the loop flushes
// several times per JS turn), and the ThreadSafeFunction's queue lock is taken once per turn, not per batch.
// Shared by the engine and every queued call, so a call outliving the engine still finds it.
struct Mailbox {
  std::mutex mutex;
  Batch* pending = nullptr;  // the queued call's batch; null when no call is queued

  ~Mailbox() { delete pending; }
};
using MailboxRef = std::shared_ptr<Mailbox>;

class Engine;
void CallJs(Napi::Env env, Napi::Function callback, Engine* engine, MailboxRef* mailbox);
using StatsTsfn = Napi::TypedThreadSafeFunction<Engine, MailboxRef, CallJs>;

Napi::Value ThrowError(Napi::Env env, const std::string& message) {
  Napi::Error::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

int64_t OptionNumber(const Napi::Object& options, const char* name, int64_t fallback) {
  Napi::Value v = options.Get(name);
  if (!v.IsNumber()) return fallback;
  return v.As<Napi::Number>().Int64Value();
}

class Engine : public Napi::ObjectWrap<Engine>, public StatsSink {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeRelayEngine",
                       {
                           InstanceMethod<&Engine::Start>("start"),
                           InstanceMethod<&Engine::Dial>("dial"),
                           InstanceMethod<&Engine::Redial>("redial"),
                           InstanceMethod<&Engine::Address>("address"),
                           InstanceMethod<&Engine::Close>("close"),
                           InstanceMethod<&Engine::Listen>("listen"),
                           InstanceMethod<&Engine::Unlisten>("unlisten"),
                           InstanceMethod<&Engine::SettleAccepted>("settleAccepted"),
                           InstanceMethod<&Engine::Grant>("grant"),
                           InstanceMethod<&Engine::RevokeGrant>("revokeGrant"),
                           InstanceMethod<&Engine::TakeAdmitted>("takeAdmitted"),
                           InstanceMethod<&Engine::CreateLimit>("createLimit"),
                           InstanceMethod<&Engine::SetLimit>("setLimit"),
                           InstanceMethod<&Engine::DisposeLimit>("disposeLimit"),
                           InstanceMethod<&Engine::CreateBudget>("createBudget"),
                           InstanceMethod<&Engine::SetBudget>("setBudget"),
                           InstanceMethod<&Engine::DisposeBudget>("disposeBudget"),
                           InstanceMethod<&Engine::TakeBudget>("takeBudget"),
                           InstanceMethod<&Engine::ChargeBudget>("chargeBudget"),
                           InstanceMethod<&Engine::Ref>("ref"),
                           InstanceMethod<&Engine::Unref>("unref"),
                           InstanceMethod<&Engine::Shutdown>("shutdown"),
                           InstanceMethod<&Engine::Stats>("stats"),
                       });
  }

  // new NativeRelayEngine(onStats, { threads, pipeSize, pipeBudget, maxPooledPipes, maxPipes })
  explicit Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsObject()) {
      ThrowError(env, "NativeRelayEngine(onStats, options): expected a function and an object");
      return;
    }
    Napi::Object options = info[1].As<Napi::Object>();
    threads_ = static_cast<int>(OptionNumber(options, "threads", 1));
    if (threads_ < 1) threads_ = 1;
    InitPipeBudget(budget_, static_cast<size_t>(OptionNumber(options, "pipeSize", 0)),
                   OptionNumber(options, "pipeBudget", 0));
    budget_.maxPooledPerLoop = static_cast<size_t>(OptionNumber(options, "maxPooledPipes", 64));
    budget_.maxPipes = OptionNumber(options, "maxPipes", 0);
    forceCopy_ = options.Get("forceCopy").ToBoolean().Value();
    tsfn_ = StatsTsfn::New(env, info[0].As<Napi::Function>(), "tidegate-relay-stats", 0, 1, this);
    tsfn_.Unref(env);  // only live relays keep the process alive (see Ref/Unref)
    tsfnLive_ = true;
    napi_add_env_cleanup_hook(env, CleanupHook, this);
    hookAdded_ = true;
    env_ = env;
  }

  ~Engine() override {
    StopLoops();
    if (hookAdded_) napi_remove_env_cleanup_hook(env_, CleanupHook, this);
  }

  void Deliver(Batch* batch) override {
    if (!tsfnLive_.load()) {
      delete batch;
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mailbox_->mutex);
      Batch* waiting = mailbox_->pending;
      if (waiting != nullptr) {
        // Records keep their order: whatever a loop flushed earlier is ahead of this in the same batch.
        waiting->records.insert(waiting->records.end(), batch->records.begin(), batch->records.end());
        waiting->labels.append(batch->labels);
      } else {
        mailbox_->pending = batch;
        batch = nullptr;
      }
    }
    if (batch != nullptr) {
      delete batch;
      return;
    }
    auto* ref = new MailboxRef(mailbox_);
    if (tsfn_.NonBlockingCall(ref) != napi_ok) {
      delete ref;
      std::lock_guard<std::mutex> lock(mailbox_->mutex);
      delete mailbox_->pending;  // closing: records are dropped, as before
      mailbox_->pending = nullptr;
    }
  }

 private:
  static void CleanupHook(void* arg) {
    Engine* self = static_cast<Engine*>(arg);
    self->hookAdded_ = false;
    self->tsfnLive_ = false;  // the environment is going away: drop records instead of queueing them
    self->StopLoops();
  }

  bool EnsureLoops(std::string* error) {
    if (!loops_.empty()) return true;
    for (int i = 0; i < threads_; i++) {
      loops_.emplace_back(new Loop(budget_, *this, accepted_, grants_));
      if (!loops_.back()->Start(error)) {
        StopLoops();
        return false;
      }
    }
    return true;
  }

  void StopLoops() {
    for (auto& loop : loops_) loop->StopAndJoin();
    loops_.clear();
    accepted_.ResetAll();  // accepted connections JS never answered
    grants_.Clear();       // and admissions no connection took
  }

  Loop& LoopFor(uint64_t id) { return *loops_[id % loops_.size()]; }

  static void CopyBuffer(const Bytes& b, Direction& D) {
    if (b.length == 0) return;
    D.buf.reset(new char[b.length]);
    std::memcpy(D.buf.get(), b.data, b.length);
    D.bufLen = b.length;
    D.bufOff = 0;
  }

  // Takes a dup of a Node stream handle's fd (non-blocking already: libuv made the shared file description so when
  // it opened the socket, accept4/socket with SOCK_NONBLOCK). Returns -1 with errno set on failure.
  static int TakeFd(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 3); }

  // A relay for the client fd (and the target fd, or -1 for an engine-side dial) with its options applied.
  Relay* NewRelay(uint64_t id, int clientFd, int targetFd, const Bytes& pendingToTarget, int64_t idleMs,
                  int64_t halfCloseMs, uint32_t limitId) {
    Relay* r = new Relay();
    r->id = id;
    r->fds[kClient] = clientFd;
    r->fds[kTarget] = targetFd;
    r->dirs[kIn].src = clientFd;
    r->dirs[kIn].dst = targetFd;
    r->dirs[kOut].src = targetFd;
    r->dirs[kOut].dst = clientFd;
    CopyBuffer(pendingToTarget, r->dirs[kIn]);
    r->copyMode = forceCopy_;
    r->idleMs = idleMs;
    r->halfCloseMs = halfCloseMs;
    if (limitId != 0) {
      std::lock_guard<std::mutex> lock(limitsMutex_);
      auto it = limits_.find(limitId);
      if (it != limits_.end()) {
        r->limit = it->second;
        r->dirs[kIn].bucket = &r->limit->in;
        r->dirs[kOut].bucket = &r->limit->out;
      }
    }
    return r;
  }

  // Gives the relay its user's quota budget (0 = none) and books the bytes it already holds (Node's buffer at the
  // hand-over): they are delivered without a read the budget could size. A greeting is the handshake: not charged.
  void AttachBudget(Relay* r, uint32_t id) {
    if (id == 0) return;
    {
      std::lock_guard<std::mutex> lock(limitsMutex_);
      auto it = budgets_.find(id);
      if (it == budgets_.end()) return;
      r->quota = it->second;
    }
    for (int d = 0; d < 2; d++) {
      r->dirs[d].quota = r->quota.get();
      r->quota->Charge(d, r->dirs[d].BufPending() - r->dirs[d].greeting);
    }
  }

  // start(...StartArg): dups both fds before returning, so the caller may destroy its sockets right away: the dups
  // are the addon's.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (shutDown_) return ThrowError(env, "the native relay engine is shut down");
    Args a(info, "start", kStartArgNames);
    uint64_t id = a.RelayId(kStartId);
    int clientFd = a.Fd(kStartClientFd);
    int targetFd = a.Fd(kStartTargetFd);
    Bytes toTarget = a.OptionalBuffer(kStartPendingToTarget);
    Bytes toClient = a.OptionalBuffer(kStartPendingToClient);
    int64_t idleMs = a.Millis(kStartIdleMs);
    int64_t halfCloseMs = a.Millis(kStartHalfCloseMs);
    uint32_t limitId = a.Handle(kStartLimitId);
    uint32_t budgetId = a.Handle(kStartBudgetId);
    if (!a.ok()) return env.Undefined();
    std::string error;
    if (!EnsureLoops(&error)) return ThrowError(env, "cannot start the relay thread: " + error);
    int fds[2] = {TakeFd(clientFd), -1};
    if (fds[0] >= 0) fds[1] = TakeFd(targetFd);
    if (fds[1] < 0) {
      int err = errno;
      if (fds[0] >= 0) close(fds[0]);
      return ThrowError(env, std::string("cannot take over the socket fd: ") + std::strerror(err));
    }
    Relay* r = NewRelay(id, fds[0], fds[1], toTarget, idleMs, halfCloseMs, limitId);
    CopyBuffer(toClient, r->dirs[kOut]);
    AttachBudget(r, budgetId);
    LoopFor(id).Post(Command{Command::kStart, r, id, 0, nullptr, nullptr});
    return env.Undefined();
  }

  // address(ip, port): the sockaddr an engine-side dial connects to, as a Buffer; null when `ip` is not an IP literal
  // (host names are resolved by Node, which then dials itself).
  Napi::Value Address(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Args a(info, "address", kAddressArgNames);
    std::string host = a.String(kAddressHost);
    double port = a.Number(kAddressPort);
    if (!a.ok()) return env.Undefined();
    if (!(port >= 0 && port <= 65535)) return env.Null();
    sockaddr_storage ss{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(static_cast<uint16_t>(port));
      len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(static_cast<uint16_t>(port));
      len = sizeof(sockaddr_in6);
    } else {
      return env.Null();
    }
    return Napi::Buffer<char>::Copy(env, reinterpret_cast<const char*>(&ss), len);
  }

  // The sockaddr made by address(): false when it is not one.
  static bool ReadAddress(const Bytes& b, DialSpec* d) {
    if (b.length < sizeof(sa_family_t) || b.length > sizeof(d->addr)) return false;
    std::memcpy(&d->addr, b.data, b.length);
    d->addrLen = static_cast<socklen_t>(b.length);
    return d->addr.ss_family == AF_INET || d->addr.ss_family == AF_INET6;
  }

  // dial(...DialArg): the loop connects to `address` itself and relays once connected; `greeting` (or null) goes to
  // the client first, once connected. Dups the client fd.
  Napi::Value Dial(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (shutDown_) return ThrowError(env, "the native relay engine is shut down");
    Args a(info, "dial", kDialArgNames);
    uint64_t id = a.RelayId(kDialId);
    int fd = a.Fd(kDialClientFd);
    Bytes toTarget = a.OptionalBuffer(kDialPendingToTarget);
    int64_t idleMs = a.Millis(kDialIdleMs);
    int64_t halfCloseMs = a.Millis(kDialHalfCloseMs);
    uint32_t limitId = a.Handle(kDialLimitId);
    Bytes address = a.Buffer(kDialAddress);
    DialSpec spec;
    spec.timeoutMs = a.Millis(kDialConnectTimeoutMs);
    spec.reportConnect = a.Bool(kDialReportConnect);
    Tuning tuning = a.ClientTuning(kDialNoDelay, kDialKeepAliveMs);
    Bytes greeting = a.OptionalBuffer(kDialGreeting);
    uint32_t budgetId = a.Handle(kDialBudgetId);
    bool tuneClient = a.Bool(kDialTuneClient);
    bool accepted = a.Bool(kDialAccepted);
    if (!a.ok()) return env.Undefined();
    if (!ReadAddress(address, &spec)) return ThrowError(env, "dial: expected an address from address()");
    std::string error;
    if (!EnsureLoops(&error)) return ThrowError(env, "cannot start the relay thread: " + error);
    int clientFd;
    if (accepted) {
      // The addon's own fd since accept: taken, not dup'ed (no syscall on this thread).
      int64_t tuned = kUntuned;
      if (!accepted_.Take(fd, &tuned)) {
        return ThrowError(env, "dial: expected a connection accepted by listen() and unanswered");
      }
      // Options it inherited from its listener need not be set again.
      if (tuneClient && tuned == TuneKey(tuning.noDelay, tuning.keepAliveSec)) tuneClient = false;
      clientFd = fd;
    } else {
      clientFd = TakeFd(fd);
      if (clientFd < 0) return ThrowError(env, std::string("cannot take over the socket fd: ") + std::strerror(errno));
    }
    Relay* r = NewRelay(id, clientFd, -1, toTarget, idleMs, halfCloseMs, limitId);
    r->phase = kAwaitingTarget;
    r->dial = spec;
    r->noDelay = tuning.noDelay;
    r->keepAliveSec = tuning.keepAliveSec;
    r->tuneClient = tuneClient;
    r->sole[kClient] = accepted;
    CopyBuffer(greeting, r->dirs[kOut]);  // written before anything the target sends, and only once it accepted
    r->dirs[kOut].greeting = greeting.length;  // the proxy's reply, not relayed bytes: left out of the counts
    AttachBudget(r, budgetId);
    LoopFor(id).Post(Command{Command::kStart, r, id, 0, nullptr, nullptr});
    return env.Undefined();
  }

  // redial(...RedialArg): after a connect-failed record, the next target.
  Napi::Value Redial(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Args a(info, "redial", kRedialArgNames);
    uint64_t id = a.RelayId(kRedialId);
    Bytes address = a.Buffer(kRedialAddress);
    DialSpec spec;
    spec.timeoutMs = a.Millis(kRedialConnectTimeoutMs);
    spec.reportConnect = a.Bool(kRedialReportConnect);
    if (!a.ok()) return env.Undefined();
    if (loops_.empty()) return ThrowError(env, "redial: expected a dialing relay");
    if (!ReadAddress(address, &spec)) return ThrowError(env, "redial: expected an address from address()");
    LoopFor(id).Post(Command{Command::kRedial, nullptr, id, 0, new DialSpec(spec), nullptr});
    return env.Undefined();
  }

  // close(...CloseArg): `farewell` (or null) goes to the client first if the relay never connected.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Args a(info, "close", kCloseArgNames);
    uint64_t id = a.RelayId(kCloseId);
    int reason = a.Code(kCloseReason, kReasonCount);
    Bytes farewell = a.OptionalBuffer(kCloseFarewell);
    if (!a.ok() || loops_.empty()) return env.Undefined();
    std::string* bytes = farewell.data == nullptr ? nullptr : new std::string(farewell.data, farewell.length);
    LoopFor(id).Post(Command{Command::kClose, nullptr, id, reason, nullptr, bytes});
    return env.Undefined();
  }

  // listen(...ListenArg): the listener's loop accepts on a dup of `fd` (a listening socket) and posts each connection
  // in a record (kAccepted). The caller must stop polling its own fd (close it) so only the addon accepts.
  Napi::Value Listen(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (shutDown_) return ThrowError(env, "the native relay engine is shut down");
    Args a(info, "listen", kListenArgNames);
    uint64_t id = a.RelayId(kListenId);
    int fd = a.Fd(kListenFd);
    Tuning tuning = a.ClientTuning(kListenNoDelay, kListenKeepAliveMs);
    bool shared = a.Bool(kListenShared);
    if (!a.ok()) return env.Undefined();
    std::string error;
    if (!EnsureLoops(&error)) return ThrowError(env, "cannot start the relay thread: " + error);
    int dup = TakeFd(fd);
    if (dup < 0) return ThrowError(env, std::string("cannot take over the listening fd: ") + std::strerror(errno));
    Command c{Command::kListen, nullptr, id, dup, nullptr, nullptr};
    c.tune = TuneKey(tuning.noDelay, tuning.keepAliveSec);
    c.shared = shared;
    LoopFor(id).Post(c);
    listening_++;
    return env.Undefined();
  }

  // unlisten(...DisposeArg): returns once the loop closed its listening fd, so the address is free again (or still
  // held only by the caller) when this returns: a re-bind or reload may bind it at once. A loop iteration is short.
  Napi::Value Unlisten(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Args a(info, "unlisten", kDisposeArgNames);
    uint64_t id = a.RelayId(kDisposeId);
    if (!a.ok() || loops_.empty()) return env.Undefined();
    if (listening_ > 0) listening_--;
    std::promise<void> done;
    std::future<void> closed = done.get_future();
    Command c{Command::kUnlisten, nullptr, id, 0, nullptr, nullptr};
    c.done = &done;
    LoopFor(id).Post(c);
    closed.wait();
    return env.Undefined();
  }

  // settleAccepted(...SettleArg): ends the addon's ownership of an accepted connection JS will not dial (SettleHow);
  // false when fd was not one (already answered, or never accepted).
  Napi::Value SettleAccepted(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Args a(info, "settleAccepted", kSettleArgNames);
    int fd = a.Fd(kSettleFd);
    int how = a.Code(kSettleHow, kSettleHowCount);
    if (!a.ok()) return env.Undefined();
    if (!accepted_.Take(fd)) return Napi::Boolean::New(env, false);
    if (how == kSettleReset) {
      linger lg{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    if (how != kSettleAdopt) close(fd);
    return Napi::Boolean::New(env, true);
  }

  // grant(...GrantArg): the relay `id`, built now but for its client, waits for the listener's next connection
  // (grants.h). It starts on the listener's loop, so its id must map to that loop (always, with one thread).
  Napi::Value Grant(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (shutDown_) return ThrowError(env, "the native relay engine is shut down");
    Args a(info, "grant", kGrantArgNames);
    uint64_t listenerId = a.RelayId(kGrantListenerId);
    uint64_t id = a.RelayId(kGrantId);
    int64_t idleMs = a.Millis(kGrantIdleMs);
    int64_t halfCloseMs = a.Millis(kGrantHalfCloseMs);
    uint32_t limitId = a.Handle(kGrantLimitId);
    Bytes address = a.Buffer(kGrantAddress);
    DialSpec spec;
    spec.timeoutMs = a.Millis(kGrantConnectTimeoutMs);
    spec.reportConnect = a.Bool(kGrantReportConnect);
    Tuning tuning = a.ClientTuning(kGrantNoDelay, kGrantKeepAliveMs);
    uint32_t budgetId = a.Handle(kGrantBudgetId);
    bool tuneClient = a.Bool(kGrantTuneClient);
    if (!a.ok()) return env.Undefined();
    if (!ReadAddress(address, &spec)) return ThrowError(env, "grant: expected an address from address()");
    if (loops_.empty() || &LoopFor(id) != &LoopFor(listenerId)) {
      return ThrowError(env, "grant: expected a listener, and a relay id on the listener's loop");
    }
    Relay* r = NewRelay(id, -1, -1, Bytes{}, idleMs, halfCloseMs, limitId);
    r->phase = kAwaitingTarget;
    r->dial = spec;
    r->noDelay = tuning.noDelay;
    r->keepAliveSec = tuning.keepAliveSec;
    r->tuneClient = tuneClient;
    AttachBudget(r, budgetId);
    grants_.Add(listenerId, r);
    return env.Undefined();
  }

  // revokeGrant(...DisposeArg): the newest grant of listener `id` no connection took: its relay id, or 0.
  Napi::Value RevokeGrant(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Args a(info, "revokeGrant", kDisposeArgNames);
    uint64_t listenerId = a.RelayId(kDisposeId);
    if (!a.ok()) return env.Undefined();
    Relay* r = grants_.TakeBack(listenerId);
    double id = r == nullptr ? 0 : static_cast<double>(r->id);
    delete r;
    return Napi::Number::New(env, id);
  }

  // takeAdmitted(): the grants connections took since the last call, as `admitted` records with their labels
  // ([records, labels], as a batch is delivered), or undefined for none. JS reads them at an `admitted` record and
  // before it reports counts, so a granted connection is counted by the time it can carry bytes.
  Napi::Value TakeAdmitted(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    takenRecords_.clear();
    takenLabels_.clear();
    if (!grants_.TakeAdmitted(&takenRecords_, &takenLabels_)) return env.Undefined();
    size_t bytes = takenRecords_.size() * sizeof(double);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, bytes);
    std::memcpy(ab.Data(), takenRecords_.data(), bytes);
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(0u, Napi::Float64Array::New(env, takenRecords_.size(), ab, 0));
    out.Set(1u, Napi::String::New(env, takenLabels_.data(), takenLabels_.size()));
    return out;
  }

  // Bytes per second, 0 = unlimited; beyond uint64 saturates.
  static uint64_t Rate(double perSec) { return perSec >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(perSec); }

  Napi::Value CreateLimit(const Napi::CallbackInfo& info) {
    Args a(info, "createLimit", kCreateLimitArgNames);
    double in = a.NonNegative(kCreateLimitIn);
    double out = a.NonNegative(kCreateLimitOut);
    if (!a.ok()) return info.Env().Undefined();
    auto limit = std::make_shared<RateLimit>();
    int64_t now = MonotonicNs();
    limit->in.SetRate(Rate(in), now);
    limit->out.SetRate(Rate(out), now);
    std::lock_guard<std::mutex> lock(limitsMutex_);
    limit->id = ++nextLimitId_;
    limits_.emplace(limit->id, limit);
    return Napi::Number::New(info.Env(), limit->id);
  }

  Napi::Value SetLimit(const Napi::CallbackInfo& info) {
    Args a(info, "setLimit", kSetLimitArgNames);
    uint32_t id = a.Handle(kSetLimitId);
    double in = a.NonNegative(kSetLimitIn);
    double out = a.NonNegative(kSetLimitOut);
    if (!a.ok()) return info.Env().Undefined();
    std::shared_ptr<RateLimit> limit;
    {
      std::lock_guard<std::mutex> lock(limitsMutex_);
      auto it = limits_.find(id);
      if (it != limits_.end()) limit = it->second;
    }
    if (limit) {
      int64_t now = MonotonicNs();
      limit->in.SetRate(Rate(in), now);
      limit->out.SetRate(Rate(out), now);
    }
    return info.Env().Undefined();
  }

  // Relays started with the limit keep their reference until they end.
  Napi::Value DisposeLimit(const Napi::CallbackInfo& info) {
    Args a(info, "disposeLimit", kDisposeArgNames);
    uint32_t id = a.Handle(kDisposeId);
    if (!a.ok()) return info.Env().Undefined();
    std::lock_guard<std::mutex> lock(limitsMutex_);
    limits_.erase(id);
    return info.Env().Undefined();
  }

  Napi::Value CreateBudget(const Napi::CallbackInfo& info) {
    auto budget = std::make_shared<ByteBudget>();
    std::lock_guard<std::mutex> lock(limitsMutex_);
    uint32_t id = ++nextBudgetId_;
    budgets_.emplace(id, budget);
    return Napi::Number::New(info.Env(), id);
  }

  // setBudget(...SetBudgetArg): limit < 0 = no limit.
  Napi::Value SetBudget(const Napi::CallbackInfo& info) {
    Args a(info, "setBudget", kSetBudgetArgNames);
    uint32_t id = a.Handle(kSetBudgetId);
    double limit = a.Number(kSetBudgetLimit);
    bool countIn = a.Bool(kSetBudgetCountIn);
    bool countOut = a.Bool(kSetBudgetCountOut);
    if (!a.ok()) return info.Env().Undefined();
    std::shared_ptr<ByteBudget> budget;
    {
      std::lock_guard<std::mutex> lock(limitsMutex_);
      auto it = budgets_.find(id);
      if (it != budgets_.end()) budget = it->second;
    }
    if (budget) {
      budget->Set(limit < 0 || limit >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(limit), countIn, countOut);
    }
    return info.Env().Undefined();
  }

  // takeBudget(...TakeBudgetArg): reserves up to `bytes` for bytes JS moves itself; returns what was granted (0 when
  // used up, all of it for an uncounted direction or an unknown budget).
  Napi::Value TakeBudget(const Napi::CallbackInfo& info) {
    Args a(info, "takeBudget", kTakeBudgetArgNames);
    uint32_t id = a.Handle(kTakeBudgetId);
    int dir = a.Code(kTakeBudgetDir, 2);
    int64_t bytes = a.Integer(kTakeBudgetBytes, 0, kMaxRelayId);
    if (!a.ok()) return info.Env().Undefined();
    std::shared_ptr<ByteBudget> budget = FindBudget(id);
    size_t granted = budget ? budget->Take(dir, static_cast<size_t>(bytes)) : static_cast<size_t>(bytes);
    return Napi::Number::New(info.Env(), static_cast<double>(granted));
  }

  // chargeBudget(...TakeBudgetArg): books bytes JS already moved (framing it could not size beforehand).
  Napi::Value ChargeBudget(const Napi::CallbackInfo& info) {
    Args a(info, "chargeBudget", kTakeBudgetArgNames);
    uint32_t id = a.Handle(kTakeBudgetId);
    int dir = a.Code(kTakeBudgetDir, 2);
    int64_t bytes = a.Integer(kTakeBudgetBytes, 0, kMaxRelayId);
    if (!a.ok()) return info.Env().Undefined();
    std::shared_ptr<ByteBudget> budget = FindBudget(id);
    if (budget) budget->Charge(dir, static_cast<size_t>(bytes));
    return info.Env().Undefined();
  }

  std::shared_ptr<ByteBudget> FindBudget(uint32_t id) {
    std::lock_guard<std::mutex> lock(limitsMutex_);
    auto it = budgets_.find(id);
    return it == budgets_.end() ? nullptr : it->second;
  }

  // Relays started with the budget keep their reference until they end.
  Napi::Value DisposeBudget(const Napi::CallbackInfo& info) {
    Args a(info, "disposeBudget", kDisposeArgNames);
    uint32_t id = a.Handle(kDisposeId);
    if (!a.ok()) return info.Env().Undefined();
    std::lock_guard<std::mutex> lock(limitsMutex_);
    budgets_.erase(id);
    return info.Env().Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (tsfnLive_) tsfn_.Ref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (tsfnLive_) tsfn_.Unref(info.Env());
    return info.Env().Undefined();
  }

  // Closes every relay with reason `shutdown` and joins the threads; their records are already queued to JS.
  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    if (!shutDown_) {
      shutDown_ = true;
      StopLoops();
      if (tsfnLive_) {
        tsfnLive_ = false;
        tsfn_.Release();  // queued batches are still delivered, then the function is finalized
      }
    }
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("threads", threads_);
    o.Set("pipeTargetSize", static_cast<double>(budget_.targetSize));
    o.Set("pipeBudget", static_cast<double>(budget_.budgetBytes));
    o.Set("pipeBytesOpen", static_cast<double>(budget_.bytesOpen.load()));
    o.Set("pipesOpen", static_cast<double>(budget_.pipesOpen.load()));
    o.Set("pipesInUse", static_cast<double>(budget_.pipesInUse.load()));
    o.Set("pipesPooled", static_cast<double>(budget_.pipesPooled.load()));
    o.Set("pipesCreated", static_cast<double>(budget_.created.load()));
    o.Set("pipesReused", static_cast<double>(budget_.reused.load()));
    o.Set("pipesReduced", static_cast<double>(budget_.reduced.load()));
    o.Set("pipesUnavailable", static_cast<double>(budget_.unavailable.load()));
    o.Set("pipesDiscardedFull", static_cast<double>(budget_.discardedFull.load()));
    o.Set("pipesResized", static_cast<double>(budget_.resized.load()));
    double live = 0, copies = 0;
    Napi::Array epollFds = Napi::Array::New(env, loops_.size());
    for (size_t i = 0; i < loops_.size(); i++) {
      live += static_cast<double>(loops_[i]->liveRelays());
      copies += static_cast<double>(loops_[i]->copyFallbacks());
      epollFds.Set(static_cast<uint32_t>(i), loops_[i]->epollFd());
    }
    double pauses = 0;
    for (auto& loop : loops_) pauses += static_cast<double>(loop->acceptPauses());
    // Counted on this thread (listen/unlisten), so a caller sees its own call at once.
    double listeners = shutDown_ ? 0 : static_cast<double>(listening_);
    o.Set("liveRelays", live);
    o.Set("copyFallbacks", copies);
    o.Set("listeners", listeners);
    o.Set("acceptPauses", pauses);
    o.Set("acceptedUnanswered", static_cast<double>(accepted_.Size()));
    o.Set("grantsWaiting", static_cast<double>(grants_.Size()));
    o.Set("epollFds", epollFds);
    return o;
  }

  Napi::Env env_ = nullptr;
  int threads_ = 1;
  bool shutDown_ = false;
  bool forceCopy_ = false;  // test hook: every relay copies as if splice were refused
  bool hookAdded_ = false;
  std::atomic<bool> tsfnLive_{false};
  StatsTsfn tsfn_;
  MailboxRef mailbox_ = std::make_shared<Mailbox>();
  PipeBudget budget_;
  AcceptedFds accepted_;
  Grants grants_;
  std::vector<double> takenRecords_;  // TakeAdmitted's buffers, swapped with the grants' log (JS thread only)
  std::string takenLabels_;
  int64_t listening_ = 0;  // listen() calls not yet undone by unlisten() (JS thread only)
  std::vector<std::unique_ptr<Loop>> loops_;
  std::mutex limitsMutex_;
  uint32_t nextLimitId_ = 0;
  std::unordered_map<uint32_t, std::shared_ptr<RateLimit>> limits_;
  uint32_t nextBudgetId_ = 0;
  std::unordered_map<uint32_t, std::shared_ptr<ByteBudget>> budgets_;
};

// onStats(records, labels): labels is "" unless the batch carries accepted connections.
void CallJs(Napi::Env env, Napi::Function callback, Engine* engine, MailboxRef* mailbox) {
  (void)engine;
  std::unique_ptr<MailboxRef> ref(mailbox);
  std::unique_ptr<Batch> owned;
  {
    std::lock_guard<std::mutex> lock((*ref)->mutex);
    owned.reset((*ref)->pending);
    (*ref)->pending = nullptr;
  }
  if (owned == nullptr || env == nullptr || callback.IsEmpty()) return;
  const std::vector<double>& records = owned->records;
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, records.size() * sizeof(double));
  std::memcpy(ab.Data(), records.data(), records.size() * sizeof(double));
  callback.Call({Napi::Float64Array::New(env, records.size(), ab, 0),
                 Napi::String::New(env, owned->labels.data(), owned->labels.size())});
}

// binding.protocol: every table of protocol.h as { jsName: value }, for the TypeScript mirror's test.
Napi::Object ProtocolTables(Napi::Env env) {
#define TG_PUT_SLOT(name, js) t.Set(js, static_cast<double>(name));
#define TG_PUT_VALUE(name, js, value) t.Set(js, static_cast<double>(name));
#define TG_TABLE(key, LIST, PUT)            \
  {                                         \
    Napi::Object t = Napi::Object::New(env); \
    LIST(PUT)                               \
    t.Freeze();                             \
    p.Set(key, t);                          \
  }
  Napi::Object p = Napi::Object::New(env);
  TG_TABLE("startArgs", TG_START_ARGS, TG_PUT_SLOT)
  TG_TABLE("dialArgs", TG_DIAL_ARGS, TG_PUT_SLOT)
  TG_TABLE("redialArgs", TG_REDIAL_ARGS, TG_PUT_SLOT)
  TG_TABLE("closeArgs", TG_CLOSE_ARGS, TG_PUT_SLOT)
  TG_TABLE("addressArgs", TG_ADDRESS_ARGS, TG_PUT_SLOT)
  TG_TABLE("createLimitArgs", TG_CREATE_LIMIT_ARGS, TG_PUT_SLOT)
  TG_TABLE("setLimitArgs", TG_SET_LIMIT_ARGS, TG_PUT_SLOT)
  TG_TABLE("setBudgetArgs", TG_SET_BUDGET_ARGS, TG_PUT_SLOT)
  TG_TABLE("takeBudgetArgs", TG_TAKE_BUDGET_ARGS, TG_PUT_SLOT)
  TG_TABLE("disposeArgs", TG_DISPOSE_ARGS, TG_PUT_SLOT)
  TG_TABLE("listenArgs", TG_LISTEN_ARGS, TG_PUT_SLOT)
  TG_TABLE("grantArgs", TG_GRANT_ARGS, TG_PUT_SLOT)
  TG_TABLE("settleArgs", TG_SETTLE_ARGS, TG_PUT_SLOT)
  TG_TABLE("settleHows", TG_SETTLE_HOWS, TG_PUT_SLOT)
  TG_TABLE("closeReasons", TG_CLOSE_REASONS, TG_PUT_SLOT)
  TG_TABLE("recordFields", TG_RECORD_FIELDS, TG_PUT_SLOT)
  TG_TABLE("recordCodes", TG_RECORD_CODES, TG_PUT_VALUE)
  TG_TABLE("limits", TG_LIMITS, TG_PUT_VALUE)
#undef TG_TABLE
#undef TG_PUT_VALUE
#undef TG_PUT_SLOT
  p.Freeze();
  return p;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeRelayEngine", Engine::Define(env));
  exports.Set("protocol", ProtocolTables(env));
  ExportListenSocket(env, exports);
  return exports;
}

}  // namespace tidegate

static Napi::Object InitTidegateRelay(Napi::Env env, Napi::Object exports) { return tidegate::Init(env, exports); }

NODE_API_MODULE(tidegate_relay, InitTidegateRelay)
