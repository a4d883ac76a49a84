// One relayed connection as the loop thread sees it: two socket fds (dups the addon owns) and one direction per way.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>

#include "byte_budget.h"
#include "pipe_pool.h"
#include "protocol.h"
#include "rate_limit.h"

namespace tidegate {

enum Side : int { kClient = 0, kTarget = 1 };
// Directions are indexed by their source side: 0 = client -> target (bytesIn), 1 = target -> client (bytesOut).
enum Dir : int { kIn = 0, kOut = 1 };

// Where an engine-side dial connects to, and how.
struct DialSpec {
  sockaddr_storage addr{};
  socklen_t addrLen = 0;
  int64_t timeoutMs = 0;
  bool reportConnect = false;
};

// An engine-side dial moves a relay from connecting to relaying; between targets it waits for JS to pick the next.
enum Phase : int { kRelaying = 0, kConnecting = 1, kAwaitingTarget = 2 };

struct Direction {
  int src = -1;
  int dst = -1;
  Pipe pipe;
  size_t inPipe = 0;        // bytes sitting in the pipe: tells "source empty" from "pipe full" on EAGAIN
  bool mayBeFull = false;   // EAGAIN with bytes in the pipe: the source is empty or the pipe's slots are; read again
                            // once the pipe drained some (srcReadable is false meanwhile, so new bytes wake it too)
  bool starved = false;     // copying because no pipe was to be had (counted in PipeBudget::starved)
  std::unique_ptr<char[]> buf;  // bytes Node read before the hand-over, or copy-mode data; older than the pipe's
  size_t bufLen = 0;
  size_t bufOff = 0;
  bool srcReadable = true;  // edge-triggered: assume ready until EAGAIN says otherwise
  bool dstWritable = true;
  bool sentShort = false;   // dstWritable went false on a short splice, not EAGAIN: Tick retries if no EPOLLOUT came
  bool srcEof = false;
  bool srcHup = false;      // the source sent FIN (EPOLLRDHUP): EOF follows what is queued, so writes may cork
  bool shutDone = false;    // shutdown(dst, SHUT_WR) sent
  uint64_t bytes = 0;       // counted as they leave into dst, a greeting included
  uint64_t greeting = 0;    // leading bytes of buf that are the proxy's reply (handshake): never booked or charged
  TokenBucket* bucket = nullptr;
  bool tookTokens = false;  // took a grant in the current pump: the next one waits for other relays' turn
  size_t reserved = 0;      // tokens booked in the bucket, not yet due: used at reservedDueNs without asking again
  int64_t reservedDueNs = 0;
  ByteBudget* quota = nullptr;  // the user's quota budget, or nullptr when no quota applies
  size_t BufPending() const { return bufLen - bufOff; }
  // What the destination received from the relay: the figure billing and quotas use. The greeting leaves first.
  uint64_t Relayed() const { return bytes > greeting ? bytes - greeting : 0; }
  // Bytes of the greeting not sent yet (they sit at the head of buf).
  uint64_t GreetingLeft() const { return bytes < greeting ? greeting - bytes : 0; }
};

struct Relay {
  uint64_t id = 0;
  int fds[2] = {-1, -1};
  uint32_t watched[2] = {0, 0};  // what each fd is registered for now (Loop::Interest keeps it to what it waits for)
  Direction dirs[2];
  // The loop's fd is the socket's only one (accepted by a listener here, or dialed here): its close() sends the FIN,
  // where a dup of Node's fd may wait for Node's close.
  bool sole[2] = {false, false};
  // The relay's name in its loop's epoll registrations (Loop::EventKey): a slot in the loop's table and a serial that
  // is never given twice, so an event of a registration that outlived its relay finds no relay (see Loop::Resolve).
  uint32_t slot = 0;
  uint64_t serial = 0;  // 0 = not registered yet
  bool copyMode = false;      // splice refused (EINVAL/ENOSYS) for these fds: read/write instead
  bool closed = false;
  bool dirty = false;         // counters changed since the last stats batch
  bool queuedAgain = false;   // in the loop's run-again list
  bool throttled = false;
  int64_t wakeAtNs = 0;
  int64_t idleMs = 0;
  int64_t halfCloseMs = 0;
  int64_t lastActiveNs = 0;
  int64_t halfCloseAtNs = 0;  // 0 = no half-close deadline
  std::shared_ptr<RateLimit> limit;
  std::shared_ptr<ByteBudget> quota;
  // Engine-side dial (fds[kTarget] is -1 until a connect starts).
  Phase phase = kRelaying;
  DialSpec dial;
  int64_t connectDeadlineNs = 0;
  bool noDelay = false;
  int keepAliveSec = 0;  // 0 = no keep-alive
  // The client's TCP_NODELAY / keep-alive are set here too (Node did not set them, to spare its main thread).
  bool tuneClient = false;
};

}  // namespace tidegate
