// The boundary between the addon and TypeScript, defined once: the argument slots of every exported call, the close
// reasons and record codes of a stats record, and the limits the addon checks. Each table is an X-macro list
// (X(enumerator, "jsName")), expanded into a C++ enum here and into `binding.protocol` by addon.cc; the TypeScript
// mirror is src/relay/native/protocol.ts, and test/native/protocol.test.ts compares the two name by name.
#pragma once

#include <cstdint>

namespace tidegate {

// start(id, clientFd, targetFd, pendingToTarget, pendingToClient, idleMs, halfCloseMs, limitId, budgetId)
#define TG_START_ARGS(X)                 \
  X(kStartId, "id")                      \
  X(kStartClientFd, "clientFd")          \
  X(kStartTargetFd, "targetFd")          \
  X(kStartPendingToTarget, "pendingToTarget") \
  X(kStartPendingToClient, "pendingToClient") \
  X(kStartIdleMs, "idleTimeoutMs")       \
  X(kStartHalfCloseMs, "halfCloseTimeoutMs") \
  X(kStartLimitId, "limitId")            \
  X(kStartBudgetId, "budgetId")

// dial(id, clientFd, pendingToTarget, idleMs, halfCloseMs, limitId, address, connectTimeoutMs, reportConnect,
//      noDelay, keepAliveMs, greeting, budgetId, tuneClient, accepted)
// `accepted`: clientFd is a connection the addon accepted itself (listen()): taken as is, not dup'ed.
#define TG_DIAL_ARGS(X)                      \
  X(kDialId, "id")                           \
  X(kDialClientFd, "clientFd")               \
  X(kDialPendingToTarget, "pendingToTarget") \
  X(kDialIdleMs, "idleTimeoutMs")            \
  X(kDialHalfCloseMs, "halfCloseTimeoutMs")  \
  X(kDialLimitId, "limitId")                 \
  X(kDialAddress, "address")                 \
  X(kDialConnectTimeoutMs, "connectTimeoutMs") \
  X(kDialReportConnect, "reportConnect")     \
  X(kDialNoDelay, "noDelay")                 \
  X(kDialKeepAliveMs, "keepAliveMs")         \
  X(kDialGreeting, "greeting")               \
  X(kDialBudgetId, "budgetId")               \
  X(kDialTuneClient, "tuneClient")         \
  X(kDialAccepted, "accepted")

// redial(id, address, connectTimeoutMs, reportConnect)
#define TG_REDIAL_ARGS(X)                      \
  X(kRedialId, "id")                           \
  X(kRedialAddress, "address")                 \
  X(kRedialConnectTimeoutMs, "connectTimeoutMs") \
  X(kRedialReportConnect, "reportConnect")

// listen(id, fd, noDelay, keepAliveMs, shared): the loop accepts on a dup of the listening socket `fd`, which gets
// the clients' TCP options once (accepted sockets inherit them); unlisten(id) stops and closes it. `shared`: other
// processes hold the socket too (a fleet's slot socket), so unlisten leaves what is queued to them.
#define TG_LISTEN_ARGS(X)                \
  X(kListenId, "id")                     \
  X(kListenFd, "fd")                     \
  X(kListenNoDelay, "noDelay")           \
  X(kListenKeepAliveMs, "keepAliveMs")   \
  X(kListenShared, "shared")

// grant(listenerId, id, idleMs, halfCloseMs, limitId, address, connectTimeoutMs, reportConnect, noDelay,
//       keepAliveMs, budgetId, tuneClient): an admission decided ahead for the listener's next connection (grants.h);
// the relay `id` starts at that accept, dialing `address`, and an `admitted` record says so. revokeGrant(listenerId)
// (a DisposeArg) takes back the newest grant not yet used: its relay id, or 0.
#define TG_GRANT_ARGS(X)                        \
  X(kGrantListenerId, "listenerId")             \
  X(kGrantId, "id")                             \
  X(kGrantIdleMs, "idleTimeoutMs")              \
  X(kGrantHalfCloseMs, "halfCloseTimeoutMs")    \
  X(kGrantLimitId, "limitId")                   \
  X(kGrantAddress, "address")                   \
  X(kGrantConnectTimeoutMs, "connectTimeoutMs") \
  X(kGrantReportConnect, "reportConnect")       \
  X(kGrantNoDelay, "noDelay")                   \
  X(kGrantKeepAliveMs, "keepAliveMs")           \
  X(kGrantBudgetId, "budgetId")                 \
  X(kGrantTuneClient, "tuneClient")

// settleAccepted(fd, how) -> whether fd was an accepted connection still unanswered; see SettleHow.
#define TG_SETTLE_ARGS(X) \
  X(kSettleFd, "fd")      \
  X(kSettleHow, "how")

// How settleAccepted ends the addon's ownership of an accepted connection.
#define TG_SETTLE_HOWS(X)  \
  X(kSettleAdopt, "adopt") /* the caller takes the fd (wraps it in a Node socket) */ \
  X(kSettleClose, "close") /* closed with a FIN */ \
  X(kSettleReset, "reset") /* closed with a RST (SO_LINGER 0) */

// close(id, reason, farewell)
#define TG_CLOSE_ARGS(X)  \
  X(kCloseId, "id")       \
  X(kCloseReason, "reason") \
  X(kCloseFarewell, "farewell")

// address(host, port)
#define TG_ADDRESS_ARGS(X) \
  X(kAddressHost, "host")  \
  X(kAddressPort, "port")

// createLimit(inBytesPerSec, outBytesPerSec)
#define TG_CREATE_LIMIT_ARGS(X)          \
  X(kCreateLimitIn, "inBytesPerSec")     \
  X(kCreateLimitOut, "outBytesPerSec")

// setLimit(id, inBytesPerSec, outBytesPerSec)
#define TG_SET_LIMIT_ARGS(X)          \
  X(kSetLimitId, "id")                \
  X(kSetLimitIn, "inBytesPerSec")     \
  X(kSetLimitOut, "outBytesPerSec")

// setBudget(id, limit, countIn, countOut); limit < 0 = no limit
#define TG_SET_BUDGET_ARGS(X)      \
  X(kSetBudgetId, "id")            \
  X(kSetBudgetLimit, "limit")      \
  X(kSetBudgetCountIn, "countIn")  \
  X(kSetBudgetCountOut, "countOut")

// takeBudget(id, dir, bytes) -> bytes granted; chargeBudget(id, dir, bytes): bytes moved outside the engine (the
// plain HTTP proxy) book the same budget; dir 0 = client -> target, 1 = target -> client.
#define TG_TAKE_BUDGET_ARGS(X)     \
  X(kTakeBudgetId, "id")           \
  X(kTakeBudgetDir, "dir")         \
  X(kTakeBudgetBytes, "bytes")

// disposeLimit(id), disposeBudget(id)
#define TG_DISPOSE_ARGS(X) X(kDisposeId, "id")

// Close reasons (the code of a close record; src/contracts/relay-engine.ts `CloseReason` names them).
#define TG_CLOSE_REASONS(X)                 \
  X(kDone, "done")                          \
  X(kClientReset, "client_reset")           \
  X(kTargetReset, "target_reset")           \
  X(kIdleTimeout, "idle_timeout")           \
  X(kHalfCloseTimeout, "half_close_timeout") \
  X(kClosed, "closed")                      \
  X(kShutdown, "shutdown")

// A stats record is kRecordFields doubles: [id, bytesIn, bytesOut, code].
#define TG_RECORD_FIELDS(X)        \
  X(kRecordId, "id")               \
  X(kRecordBytesIn, "bytesIn")     \
  X(kRecordBytesOut, "bytesOut")   \
  X(kRecordCode, "code")

// Record codes beyond the close reasons, with their values.
#define TG_RECORD_CODES(X)                                                                                        \
  /* Live counters of a relay that moved bytes since its last record. */                                          \
  X(kLive, "live", -1)                                                                                            \
  /* Added to a close reason when the relay ended before its target connected (an engine-side dial). */           \
  X(kUnconnected, "unconnected", 16)                                                                              \
  /* A connect failed; the second field holds errno. The relay keeps its client, waiting for redial or close. */  \
  X(kConnectFailed, "connectFailed", 32)                                                                          \
  /* The target accepted (sent only when the dial asked for it). */                                               \
  X(kConnected, "connected", 33)                                                                                  \
  /* A listener accepted a connection: [listenerId, fd, labelLength, 34]; the label ("address:port") is the next */ \
  /* labelLength characters of the batch's label string. JS answers with dial(accepted) or settleAccepted. */      \
  X(kAccepted, "accepted", 34)                                                                                    \
  /* accept4 failed: [listenerId, errno, paused, 35]; paused 1 = out of fds, the listener rests kAcceptPauseMs. */ \
  X(kAcceptFailed, "acceptFailed", 35)                                                                            \
  /* [listenerId, 0, 0, 36]: the listener's last record (unlisten() closed it); its accepts came before. */        \
  X(kUnlistened, "unlistened", 36)                                                                                \
  /* A connection took a grant: [listenerId, relayId, labelLength, 37] in takeAdmitted()'s log, the label as for */ \
  /* `accepted`; in a batch a marker with labelLength 0 (the log has the label). The relay's own records follow. */ \
  X(kAdmitted, "admitted", 37)

// What the addon accepts beyond the types: ms * 1e6 (deadlines in ns) must not overflow int64.
#define TG_LIMITS(X)                            \
  X(kMaxTimeoutMs, "maxTimeoutMs", 1000000000000LL) \
  X(kMaxFd, "maxFd", 2147483647LL)              \
  X(kMaxHandleId, "maxHandleId", 4294967295LL)  \
  X(kMaxRelayId, "maxRelayId", 9007199254740991LL) \
  X(kAcceptPauseMs, "acceptPauseMs", 500LL)

#define TG_ENUM_SLOT(name, js) name,
#define TG_ENUM_VALUE(name, js, value) name = value,

enum StartArg : int { TG_START_ARGS(TG_ENUM_SLOT) kStartCount };
enum DialArg : int { TG_DIAL_ARGS(TG_ENUM_SLOT) kDialCount };
enum RedialArg : int { TG_REDIAL_ARGS(TG_ENUM_SLOT) kRedialCount };
enum CloseArg : int { TG_CLOSE_ARGS(TG_ENUM_SLOT) kCloseCount };
enum AddressArg : int { TG_ADDRESS_ARGS(TG_ENUM_SLOT) kAddressCount };
enum CreateLimitArg : int { TG_CREATE_LIMIT_ARGS(TG_ENUM_SLOT) kCreateLimitCount };
enum SetLimitArg : int { TG_SET_LIMIT_ARGS(TG_ENUM_SLOT) kSetLimitCount };
enum SetBudgetArg : int { TG_SET_BUDGET_ARGS(TG_ENUM_SLOT) kSetBudgetCount };
enum TakeBudgetArg : int { TG_TAKE_BUDGET_ARGS(TG_ENUM_SLOT) kTakeBudgetCount };
enum DisposeArg : int { TG_DISPOSE_ARGS(TG_ENUM_SLOT) kDisposeCount };
enum ListenArg : int { TG_LISTEN_ARGS(TG_ENUM_SLOT) kListenCount };
enum GrantArg : int { TG_GRANT_ARGS(TG_ENUM_SLOT) kGrantCount };
enum SettleArg : int { TG_SETTLE_ARGS(TG_ENUM_SLOT) kSettleCount };
enum SettleHow : int { TG_SETTLE_HOWS(TG_ENUM_SLOT) kSettleHowCount };

// Close reasons, in order from 0; kReasonCount bounds what close() accepts.
enum Reason : int { TG_CLOSE_REASONS(TG_ENUM_SLOT) kReasonCount };
enum RecordField : int { TG_RECORD_FIELDS(TG_ENUM_SLOT) kRecordFields };
enum RecordCode : int { TG_RECORD_CODES(TG_ENUM_VALUE) };
enum Limit : int64_t { TG_LIMITS(TG_ENUM_VALUE) };

// Slot names, for the addon's TypeErrors and its exported tables.
#define TG_SLOT_NAME(name, js) js,
inline constexpr const char* kStartArgNames[] = {TG_START_ARGS(TG_SLOT_NAME)};
inline constexpr const char* kDialArgNames[] = {TG_DIAL_ARGS(TG_SLOT_NAME)};
inline constexpr const char* kRedialArgNames[] = {TG_REDIAL_ARGS(TG_SLOT_NAME)};
inline constexpr const char* kCloseArgNames[] = {TG_CLOSE_ARGS(TG_SLOT_NAME)};
inline constexpr const char* kAddressArgNames[] = {TG_ADDRESS_ARGS(TG_SLOT_NAME)};
inline constexpr const char* kCreateLimitArgNames[] = {TG_CREATE_LIMIT_ARGS(TG_SLOT_NAME)};
inline constexpr const char* kSetLimitArgNames[] = {TG_SET_LIMIT_ARGS(TG_SLOT_NAME)};
inline constexpr const char* kSetBudgetArgNames[] = {TG_SET_BUDGET_ARGS(TG_SLOT_NAME)};
inline constexpr const char* kTakeBudgetArgNames[] = {TG_TAKE_BUDGET_ARGS(TG_SLOT_NAME)};
inline constexpr const char* kDisposeArgNames[] = {TG_DISPOSE_ARGS(TG_SLOT_NAME)};
inline constexpr const char* kListenArgNames[] = {TG_LISTEN_ARGS(TG_SLOT_NAME)};
inline constexpr const char* kGrantArgNames[] = {TG_GRANT_ARGS(TG_SLOT_NAME)};
inline constexpr const char* kSettleArgNames[] = {TG_SETTLE_ARGS(TG_SLOT_NAME)};
#undef TG_SLOT_NAME

static_assert(static_cast<int>(kReasonCount) <= static_cast<int>(kUnconnected),
              "a close reason plus kUnconnected must not collide with another reason");
static_assert(static_cast<int>(kUnconnected) + kReasonCount <= static_cast<int>(kConnectFailed),
              "unconnected close codes stay below the dial codes");

#undef TG_ENUM_SLOT
#undef TG_ENUM_VALUE

}  // namespace tidegate
