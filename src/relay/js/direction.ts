import type { Socket } from 'node:net';
import type { JsByteBudget } from './byte-budget.js';
import type { TokenBucket } from './token-bucket.js';

/** How often a direction whose quota is used up looks again (accounting closes it, or raises the budget). */
const QUOTA_POLL_MS = 100;

/** What a Direction tells its relay. */
export interface DirectionOwner {
  directionEnded(direction: Direction): void;
}

/**
 * One way of a relay: reads `source`, writes `destination`, pauses on backpressure, an empty token bucket or a used-up
 * quota budget, and passes EOF on as a half-close. Handlers are bound once per direction, never per chunk.
 */
export class Direction {
  readonly source: Socket;
  readonly destination: Socket;
  /** Bytes handed to the destination socket. */
  written = 0;
  ended = false;
  private readonly bucket: TokenBucket | null;
  private readonly budget: JsByteBudget | null;
  /** This direction's index in the budget: 0 client→target, 1 target→client. */
  private readonly dir: 0 | 1;
  private readonly owner: DirectionOwner;
  private throttleTimer: NodeJS.Timeout | null = null;
  private budgetTimer: NodeJS.Timeout | null = null;
  /** The part of a chunk past the quota budget: passed on once the budget allows (or dropped at teardown). */
  private held: Buffer | null = null;
  /** The source ended while bytes were held: the half-close follows them. */
  private endAfterHeld = false;
  private waitingForDrain = false;

  constructor(
    source: Socket, destination: Socket, bucket: TokenBucket | null, budget: JsByteBudget | null, dir: 0 | 1,
    owner: DirectionOwner,
  ) {
    this.source = source;
    this.destination = destination;
    this.bucket = bucket;
    this.budget = budget;
    this.dir = dir;
    this.owner = owner;
    this.onData = this.onData.bind(this);
    this.onDrain = this.onDrain.bind(this);
    this.onSourceEnd = this.onSourceEnd.bind(this);
    this.onDestinationFinish = this.onDestinationFinish.bind(this);
    this.resumeAfterThrottle = this.resumeAfterThrottle.bind(this);
    this.retryBudget = this.retryBudget.bind(this);
  }

  start(): void {
    this.source.on('data', this.onData);
    this.source.on('end', this.onSourceEnd);
    this.destination.on('drain', this.onDrain);
    this.destination.on('finish', this.onDestinationFinish);
    this.source.resume();
  }

  /** Bytes accepted but not yet flushed to the kernel; not delivered if the relay is torn down now. */
  get pending(): number {
    return this.destination.writableLength;
  }

  /** At teardown: the bytes delivered. Those still queued were never delivered and go back to the quota budget. */
  delivered(): number {
    const pending = this.pending;
    if (this.budget !== null) this.budget.refund(this.dir, pending);
    return this.written - pending;
  }

  stopTimers(): void {
    if (this.throttleTimer !== null) {
      clearTimeout(this.throttleTimer);
      this.throttleTimer = null;
    }
    if (this.budgetTimer !== null) {
      clearTimeout(this.budgetTimer);
      this.budgetTimer = null;
    }
  }

  private onData(chunk: Buffer): void {
    if (this.budget !== null) {
      // Node sized the read; the budget sizes what passes. The rest waits, with the source paused.
      const allowed = this.budget.allow(this.dir, chunk.length);
      if (allowed < chunk.length) {
        this.held = chunk.subarray(allowed);
        this.source.pause();
        this.budgetTimer = setTimeout(this.retryBudget, QUOTA_POLL_MS);
        if (allowed === 0) return;
        chunk = chunk.subarray(0, allowed);
      }
    }
    this.pass(chunk);
  }

  private pass(chunk: Buffer): void {
    this.written += chunk.length;
    const flowing = this.destination.write(chunk);
    if (!flowing) {
      this.waitingForDrain = true;
      this.source.pause();
    }
    if (this.bucket !== null) {
      const waitMs = this.bucket.take(chunk.length);
      if (waitMs > 0 && this.throttleTimer === null) {
        this.source.pause();
        this.throttleTimer = setTimeout(this.resumeAfterThrottle, waitMs);
      }
    }
  }

  private onDrain(): void {
    this.waitingForDrain = false;
    this.resumeIfFree();
  }

  private resumeAfterThrottle(): void {
    this.throttleTimer = null;
    this.resumeIfFree();
  }

  private retryBudget(): void {
    this.budgetTimer = null;
    const held = this.held!;
    const allowed = this.budget!.allow(this.dir, held.length);
    if (allowed < held.length) {
      this.held = held.subarray(allowed);
      this.budgetTimer = setTimeout(this.retryBudget, QUOTA_POLL_MS);
      if (allowed > 0) this.pass(held.subarray(0, allowed));
      return;
    }
    this.held = null;
    this.pass(held);
    if (this.endAfterHeld) this.destination.end();
    else this.resumeIfFree();
  }

  /** Reads again unless backpressure, the token bucket or the quota budget still holds the source. */
  private resumeIfFree(): void {
    if (this.waitingForDrain || this.throttleTimer !== null || this.budgetTimer !== null || this.source.destroyed) {
      return;
    }
    this.source.resume();
  }

  private onSourceEnd(): void {
    if (this.held !== null) {
      this.endAfterHeld = true;
      return;
    }
    // Pass the EOF on; 'finish' fires once everything queued has been flushed and the FIN is sent.
    this.destination.end();
  }

  private onDestinationFinish(): void {
    this.ended = true;
    this.owner.directionEnded(this);
  }
}
