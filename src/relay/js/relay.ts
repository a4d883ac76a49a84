import type { Socket } from 'node:net';
import type { CloseReason, Relay, RelayCloseListener, RelayOptions } from '../../contracts/relay-engine.js';
import { Direction, type DirectionOwner } from './direction.js';
import type { JsByteBudget } from './byte-budget.js';
import type { JsRateLimit } from './token-bucket.js';

/** Told when a relay has closed, so the engine can forget it. */
export interface RelayRegistry {
  forget(relay: JsRelay): void;
}

/**
 * A relay in JavaScript: two Directions, one outcome. Errors and timeouts are handled here because each socket is
 * the source of one direction and the destination of the other.
 */
export class JsRelay implements Relay, DirectionOwner {
  readonly id: number;
  ownerSlot = -1;
  /** Index in the engine's list of live relays. */
  engineSlot = -1;
  readonly startedAt: number;
  private readonly client: Socket;
  private readonly target: Socket;
  private readonly inbound: Direction;
  private readonly outbound: Direction;
  private readonly options: RelayOptions;
  private readonly onClose: RelayCloseListener;
  private readonly registry: RelayRegistry;
  private reason: CloseReason | null = null;
  private closedSockets = 0;
  private halfCloseTimer: NodeJS.Timeout | null = null;
  private finalBytesIn = -1;
  private finalBytesOut = -1;

  constructor(
    id: number, client: Socket, target: Socket, options: RelayOptions, onClose: RelayCloseListener,
    registry: RelayRegistry,
  ) {
    this.id = id;
    this.startedAt = performance.now();
    this.client = client;
    this.target = target;
    this.options = options;
    this.onClose = onClose;
    this.registry = registry;
    const limit = options.rateLimit as JsRateLimit | null;
    const budget = (options.byteBudget ?? null) as JsByteBudget | null;
    this.inbound = new Direction(client, target, limit ? limit.in : null, budget, 0, this);
    this.outbound = new Direction(target, client, limit ? limit.out : null, budget, 1, this);
    this.onClientError = this.onClientError.bind(this);
    this.onTargetError = this.onTargetError.bind(this);
    this.onSocketClose = this.onSocketClose.bind(this);
    this.onIdle = this.onIdle.bind(this);
    this.onHalfCloseTimeout = this.onHalfCloseTimeout.bind(this);
  }

  get bytesIn(): number {
    return this.finalBytesIn >= 0 ? this.finalBytesIn : this.inbound.written;
  }

  get bytesOut(): number {
    return this.finalBytesOut >= 0 ? this.finalBytesOut : this.outbound.written;
  }

  start(): void {
    const { client, target } = this;
    client.on('error', this.onClientError);
    target.on('error', this.onTargetError);
    client.on('close', this.onSocketClose);
    target.on('close', this.onSocketClose);
    if (this.options.idleTimeoutMs > 0) {
      client.setTimeout(this.options.idleTimeoutMs);
      client.on('timeout', this.onIdle);
    }
    this.inbound.start();
    this.outbound.start();
  }

  close(reason: CloseReason = 'closed'): void {
    this.end(reason, false);
  }

  directionEnded(): void {
    if (this.inbound.ended && this.outbound.ended) {
      this.end('done', false);
    } else if (this.halfCloseTimer === null && this.options.halfCloseTimeoutMs > 0) {
      this.halfCloseTimer = setTimeout(this.onHalfCloseTimeout, this.options.halfCloseTimeoutMs);
    }
  }

  private onClientError(): void {
    this.end('client_reset', true);
  }

  private onTargetError(): void {
    this.end('target_reset', true);
  }

  private onIdle(): void {
    this.end('idle_timeout', false);
  }

  private onHalfCloseTimeout(): void {
    this.halfCloseTimer = null;
    this.end('half_close_timeout', false);
  }

  /** Decides the outcome once, freezes the counts, and tears both sockets down. */
  private end(reason: CloseReason, reset: boolean): void {
    if (this.reason !== null) return;
    this.reason = reason;
    // Bytes still queued in Node were never delivered: they do not count.
    this.finalBytesIn = this.inbound.delivered();
    this.finalBytesOut = this.outbound.delivered();
    this.inbound.stopTimers();
    this.outbound.stopTimers();
    if (this.halfCloseTimer !== null) clearTimeout(this.halfCloseTimer);
    if (reset) {
      // A reset on one side resets the other.
      resetOrClose(this.client);
      resetOrClose(this.target);
    } else {
      this.client.destroy();
      this.target.destroy();
    }
  }

  private onSocketClose(): void {
    if (++this.closedSockets < 2) {
      // The peer closed on its own (e.g. reset without an error event): end the relay now.
      if (this.reason === null) this.end(this.client.destroyed ? 'client_reset' : 'target_reset', true);
      return;
    }
    this.inbound.release();
    this.outbound.release();
    this.registry.forget(this);
    this.onClose(this, {
      connected: true,
      bytesIn: this.finalBytesIn,
      bytesOut: this.finalBytesOut,
      reason: this.reason ?? 'done',
      durationMs: performance.now() - this.startedAt,
    });
  }
}

/**
 * Resets `socket`, or closes it where a reset cannot work: while the FIN of our `end()` waits in libuv (from the call
 * until the next poll of the socket), libuv refuses the reset and Node drops the handle without closing it: no
 * 'close', the fd stays open (half-closed, unread bytes piling up) and the relay never finishes. A plain close then
 * still resets when unread bytes are left (the kernel's rule) and otherwise ends it.
 */
function resetOrClose(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded && !socket.writableFinished) socket.destroy();
  else socket.resetAndDestroy();
}
