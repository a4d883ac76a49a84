import type { Server, Socket } from 'node:net';
import type { HostPort } from '../util/address.js';
import type { ByteBudget, RateLimit } from './rate.js';

/**
 * The relay engine contract. TypeScript decides who connects where; an engine moves bytes between two connected
 * sockets, counts them, throttles them and closes on request. The JavaScript engine and the native splice engine
 * implement the same contract and pass the same test suite (test/relay/). An engine may also dial the target that
 * TypeScript chose (`dial`, the native engine): failed connects come back to TypeScript, which picks the next one.
 */

export type RelayEngineKind = 'native' | 'js';

/** Why a relay ended; reported once per relay in its record. */
export type CloseReason =
  /** Both directions reached EOF and drained. */
  | 'done'
  /** The client reset or errored; the target was reset in turn. */
  | 'client_reset'
  /** The target reset or errored; the client was reset in turn. */
  | 'target_reset'
  /** No bytes in either direction for `idleTimeoutMs`. */
  | 'idle_timeout'
  /** One side sent EOF and the other did not finish within `halfCloseTimeoutMs`. */
  | 'half_close_timeout'
  /** `relay.close()` from TypeScript: policy (quota, admin, removed service). */
  | 'closed'
  /** Process shutdown after the grace period. */
  | 'shutdown';

export interface RelayOptions {
  /** Close when neither direction moved a byte for this long; 0 disables. */
  readonly idleTimeoutMs: number;
  /** After one side's EOF (passed on as a half-close), how long the other direction may keep flowing. */
  readonly halfCloseTimeoutMs: number;
  /** Shared bandwidth limit, or null. */
  readonly rateLimit: RateLimit | null;
  /** The user's quota budget, or null/absent for none. */
  readonly byteBudget?: ByteBudget | null;
}

export interface RelayResult {
  /** False when an engine-side dial never reached a target (every connect failed, or the client left first). */
  readonly connected: boolean;
  /** Client→target bytes, counted as they were written to the target. */
  readonly bytesIn: number;
  /** Target→client bytes, counted as they were written to the client. */
  readonly bytesOut: number;
  readonly reason: CloseReason;
  readonly durationMs: number;
}

/** A live relay. Counters are live for the JS engine and at most ~100 ms stale for the native engine. */
export interface Relay {
  /** Unique among the engine's live relays (an engine may reuse the id of a relay that has closed). */
  readonly id: number;
  /**
   * Free for whoever started the relay to keep it in one SlotList of its own (-1 while in none); the engine only
   * initialises it. It lives here so that listing a relay allocates nothing.
   */
  ownerSlot: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** `performance.now()` at start. */
  readonly startedAt: number;
  /** Ends the relay: both sockets are destroyed and `onClose` fires with `reason`. Idempotent. */
  close(reason?: CloseReason): void;
}

/** How a connect to a target is made, by Node (`DialAttempt`) or by an engine (`RelayEngine.dial`). */
export interface DialOptions {
  readonly timeoutMs: number;
  readonly noDelay: boolean;
  /** TCP keep-alive idle time; 0 disables keep-alive. */
  readonly keepAliveMs: number;
  /**
   * Engine-side dials: set `noDelay` and keep-alive on the client's socket too (the caller left them unset so the
   * syscalls happen on the engine's thread, not Node's). Node dials ignore it.
   */
  readonly tuneClient?: boolean;
}

export type RelayCloseListener = (relay: Relay, result: RelayResult) => void;

/** An engine's own form of a target address, made once per target (see `RelayEngine.dialAddress`). */
export type DialAddress = object & { readonly __dialAddress: unique symbol };

/** A relay whose engine connects to the target itself; between failed connects the caller picks the next target. */
export interface DialingRelay extends Relay {
  /** After `connectFailed`: connect to the next target. */
  redial(address: DialAddress, label: string, reportConnect: boolean): void;
  /**
   * After `connectFailed`: ends the relay (reason `closed`, unconnected), writing `farewell` (a protocol error reply)
   * to the client first.
   */
  giveUp(farewell: Buffer | null): void;
}

/** Hears how an engine-side dial goes. Exactly one of them per connect, except `connected`, which is on request. */
export interface RelayDialListener {
  /** The target accepted and bytes flow; called only when the connect asked for it (`reportConnect`). */
  connected(relay: DialingRelay): void;
  /** The connect failed (refused, unreachable, timed out): `redial` the next target, or `close` the relay. */
  connectFailed(relay: DialingRelay, err: Error): void;
}

/** Hears of the connections an engine accepts on a listener handed to it (`RelayEngine.listen`). */
export interface AcceptListener {
  /**
   * A connection `fd` from `label` ("address:port", IPv6 unbracketed), owned by the engine until it is answered
   * exactly once: `dialAccepted`, or `settleAccepted` (refused, or adopted into a Node socket).
   */
  accepted(fd: number, label: string): void;
  /** accept4 failed; `paused`: out of fds, the engine rests the listener for a moment by itself. */
  acceptFailed(err: NodeJS.ErrnoException, paused: boolean): void;
  /**
   * A connection from `label` took the oldest grant (`EngineListener.grant`): its relay is dialing already. The
   * listener must take it with `relay.admit()` before returning (the engine closes a relay left untaken).
   */
  admitted?(relay: GrantedRelay, label: string): void;
}

/** A listener an engine accepts on; `close()` returns once the engine let go of the socket (idempotent). */
export interface EngineListener {
  close(): void;
  /** Settles after `close()` once every connection the engine accepted on it has reached its AcceptListener. */
  readonly delivered: Promise<void>;
  /**
   * Decides the admission of the listener's next connection ahead: the engine dials `address` for it at the accept,
   * with no round trip to JavaScript, and tells `AcceptListener.admitted` after. Grants are used oldest first. Null
   * when the engine does not grant (or no longer: a closed listener).
   */
  grant?(
    address: DialAddress, label: string, connect: DialOptions, reportConnect: boolean, options: RelayOptions,
  ): GrantedRelay | null;
  /** Takes back the newest grant no connection used; null when every grant was used (its `admitted` follows). */
  revokeGrant?(): GrantedRelay | null;
}

/** A relay granted ahead: started by the engine at an accept, taken by the service when it hears of it. */
export interface GrantedRelay {
  /** The relay from now on: `listener` hears of its connect outcomes, `onClose` of its end (exactly once). */
  admit(listener: RelayDialListener, onClose: RelayCloseListener): DialingRelay;
}

/**
 * The TCP options of the clients a listener accepts (the engine sets them on the listening socket once, where the
 * accepted sockets inherit them; a dial with other values sets its own).
 */
export interface ClientOptions {
  readonly noDelay: boolean;
  readonly keepAliveMs: number;
}

/** How `settleAccepted` ends an accepted connection: taken over by a Node socket, or closed with a FIN or a RST. */
export type SettleHow = 'adopt' | 'close' | 'reset';

export interface RelayEngine {
  readonly kind: RelayEngineKind;
  /** Live relays of this engine. */
  readonly liveCount: number;
  /**
   * Takes ownership of two connected sockets and relays until both directions end. From this call on, the engine
   * owns both sockets: the caller must not read, write, pause or destroy them. Bytes the client socket already
   * buffered are relayed first. `onClose` fires exactly once.
   */
  start(client: Socket, target: Socket, options: RelayOptions, onClose: RelayCloseListener): Relay;
  /**
   * Engine-side dialing, where the engine has it (the native engine): the address to pass to `dial`, or null when
   * this engine cannot dial it itself (a host name). Undefined: the engine never dials; connect with Node instead.
   */
  dialAddress?(address: HostPort): DialAddress | null;
  /**
   * Takes ownership of the client socket (as `start` does) and connects to the target itself, so that no Node socket
   * exists for the target. The client's bytes wait in its socket until the target accepts; then `greeting` (a
   * protocol's success reply, or null) goes to the client before anything the target sends; it is handshake, never
   * counted in `bytesOut` nor charged to a byte budget. A relay that never connects closes with `connected: false`.
   */
  dial?(
    client: Socket,
    address: DialAddress,
    label: string,
    connect: DialOptions,
    reportConnect: boolean,
    greeting: Buffer | null,
    options: RelayOptions,
    listener: RelayDialListener,
    onClose: RelayCloseListener,
  ): DialingRelay;
  /**
   * Accepting in the engine (the native engine on Linux, unless turned off): the engine accepts on a dup of the bound
   * `server`'s socket and posts each connection to `listener`. The caller must then close `server` (Node stops
   * polling the socket; the engine's dup keeps it listening). Null when this engine does not accept, or not this
   * server (a cluster worker's round-robin handle has no fd): the caller keeps Node's accept path. `shared`: other
   * processes accept on the same socket (a fleet slot's SO_REUSEPORT socket), so closing the listener leaves what is
   * queued to them; otherwise the engine accepts the queue first (the connections reach `listener`).
   */
  listen?(server: Server, listener: AcceptListener, client: ClientOptions, shared: boolean): EngineListener | null;
  /** `dial` for a connection the engine accepted: no Node socket ever existed for it. */
  dialAccepted?(
    fd: number,
    address: DialAddress,
    label: string,
    connect: DialOptions,
    reportConnect: boolean,
    options: RelayOptions,
    listener: RelayDialListener,
    onClose: RelayCloseListener,
  ): DialingRelay;
  /** Ends the engine's ownership of an accepted connection that is not dialed; false when it was not one. */
  settleAccepted?(fd: number, how: SettleHow): boolean;
  /**
   * Where listeners take grants (`EngineListener.grant`): tells each AcceptListener now (`admitted`) of the grants
   * connections took that it has not heard of yet. Whoever reports counts calls it first, so a granted connection
   * is counted as soon as it exists, as one JavaScript admitted is.
   */
  catchUpAdmitted?(): void;
  /** A bandwidth limit that relays started with it share. */
  createRateLimit(inBytesPerSec: number, outBytesPerSec: number): RateLimit;
  /** A quota budget that relays started with it share; it starts without a limit. */
  createByteBudget(): ByteBudget;
  /** Closes every live relay with reason `shutdown` and releases engine resources. */
  shutdown(): Promise<void>;
}
