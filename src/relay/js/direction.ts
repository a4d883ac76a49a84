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
  private waitingForDrain = false;

  constructor(source: Socket, destination: Socket, bucket: TokenBucket | null, budget: JsByteBudget | null, dir: 0 | 1, owner: DirectionOwner) {
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
    if (this.budget !== null && !this.budget.take(this.dir, chunk.length) && this.budgetTimer === null) {
      this.source.pause();
      this.budgetTimer = setTimeout(this.retryBudget, QUOTA_POLL_MS);
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
    if (this.budget!.open(this.dir)) this.resumeIfFree();
    else this.budgetTimer = setTimeout(this.retryBudget, QUOTA_POLL_MS);
  }

  /** Reads again unless backpressure, the token bucket or the quota budget still holds the source. */
  private resumeIfFree(): void {
    if (this.waitingForDrain || this.throttleTimer !== null || this.budgetTimer !== null || this.source.destroyed) return;
    this.source.resume();
  }

  private onSourceEnd(): void {
    // Pass the EOF on; 'finish' fires once everything queued has been flushed and the FIN is sent.
    this.destination.end();
  }

  private onDestinationFinish(): void {
    this.ended = true;
    this.owner.directionEnded(this);
  }
}
