import type { Socket } from 'node:net';
import type { TokenBucket } from './token-bucket.js';

/** What a Direction tells its relay. */
export interface DirectionOwner {
  directionEnded(direction: Direction): void;
}

/**
 * One way of a relay: reads `source`, writes `destination`, pauses on backpressure or an empty token bucket, and
 * passes EOF on as a half-close. Handlers are bound once per direction, never per chunk.
 */
export class Direction {
  readonly source: Socket;
  readonly destination: Socket;
  /** Bytes handed to the destination socket. */
  written = 0;
  ended = false;
  private readonly bucket: TokenBucket | null;
  private readonly owner: DirectionOwner;
  private throttleTimer: NodeJS.Timeout | null = null;
  private waitingForDrain = false;

  constructor(source: Socket, destination: Socket, bucket: TokenBucket | null, owner: DirectionOwner) {
    this.source = source;
    this.destination = destination;
    this.bucket = bucket;
    this.owner = owner;
    this.onData = this.onData.bind(this);
    this.onDrain = this.onDrain.bind(this);
    this.onSourceEnd = this.onSourceEnd.bind(this);
    this.onDestinationFinish = this.onDestinationFinish.bind(this);
    this.resumeAfterThrottle = this.resumeAfterThrottle.bind(this);
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

  stopTimers(): void {
    if (this.throttleTimer !== null) {
      clearTimeout(this.throttleTimer);
      this.throttleTimer = null;
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
  }

  private onDrain(): void {
    this.waitingForDrain = false;
    if (this.throttleTimer === null) this.source.resume();
  }

  private resumeAfterThrottle(): void {
    this.throttleTimer = null;
    if (!this.waitingForDrain && !this.source.destroyed) this.source.resume();
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
