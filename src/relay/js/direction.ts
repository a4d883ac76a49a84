import type { Socket } from 'node:net';
import type { JsByteBudget } from './byte-budget.js';
import type { TokenBucket } from './token-bucket.js';
import { canReadInto, readInto } from './user-buffer.js';
import {
  BULK_READ, copyOut, giveReadBuffer, READ_BUFFER_SIZE, sharedReadBuffer, takeReadBuffer,
} from './read-buffers.js';

/** How often a direction whose quota is used up looks again (accounting closes it, or raises the budget). */
const QUOTA_POLL_MS = 100;

/** What a Direction tells its relay. */
export interface DirectionOwner {
  directionEnded(direction: Direction): void;
}

/**
 * One way of a relay: reads `source`, writes `destination`, stops reading on backpressure, an empty token bucket or a
 * used-up quota budget, and passes EOF on as a half-close. Handlers are bound once per direction, never per chunk.
 *
 * Where it can (`canReadInto`), the source reads into our buffers (read-buffers.ts) instead of emitting a new Buffer
 * per read: that allocation was what made the garbage collector the largest cost of a busy JS relay. A chunk written
 * from a direction's own buffer may still be queued in the destination when the write returns; reading then stops
 * until it is flushed, so the next read cannot overwrite it.
 *
 * A rate-limited direction reads at most its bucket's chunk at once (`limitedReadSize`): a relay pays for a read after
 * making it, so the read size is how far it can overshoot the bucket. Unlimited reads would let N connections of a
 * slow user burst N × 128 KiB (seconds of its rate) on top of the bucket's one second.
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
  /** The source reads into our buffers (`onRead`) rather than emitting 'data'. */
  private direct = false;
  /** The buffer of our own the source reads into while it moves bulk data; null: the shared one. */
  private own: Buffer | null = null;
  /** Bytes of the last read (direct mode): decides which buffer the next one goes to. */
  private lastRead = 0;
  private throttleTimer: NodeJS.Timeout | null = null;
  private budgetTimer: NodeJS.Timeout | null = null;
  /** The part of a chunk past the quota budget: passed on once the budget allows (or dropped at teardown). */
  private held: Buffer | null = null;
  /** The source ended while bytes were held: the half-close follows them. */
  private endAfterHeld = false;
  /** Reading stopped until the destination has flushed (direct mode) or drained what it was given. */
  private waitingForWrite = false;
  /** Direct mode: the bucket rate the read size below follows (-1 before the first read). */
  private readRate = -1;
  /** Direct mode: the most one read takes (the whole buffer unless rate-limited). */
  private readSize = READ_BUFFER_SIZE;
  /** The shared buffer cut to `readSize`, and the own buffer cut to it (null: not cut yet). */
  private sharedView: Buffer = sharedReadBuffer;
  private ownView: Buffer | null = null;

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
    this.onRead = this.onRead.bind(this);
    this.nextReadBuffer = this.nextReadBuffer.bind(this);
    this.onWritten = this.onWritten.bind(this);
    this.onDrain = this.onDrain.bind(this);
    this.onSourceEnd = this.onSourceEnd.bind(this);
    this.onDestinationFinish = this.onDestinationFinish.bind(this);
    this.resumeAfterThrottle = this.resumeAfterThrottle.bind(this);
    this.retryBudget = this.retryBudget.bind(this);
  }

  start(): void {
    const { source } = this;
    source.on('end', this.onSourceEnd);
    this.destination.on('finish', this.onDestinationFinish);
    if (!canReadInto(source)) {
      source.on('data', this.onData);
      this.destination.on('drain', this.onDrain);
      source.resume();
      return;
    }
    // Bytes Node read before the relay started go first, as one chunk; later reads land in our buffers.
    const early = takeBuffered(source);
    this.direct = true;
    readInto(source, this.readBuffer(sharedReadBuffer), this.onRead, this.nextReadBuffer);
    if (early === null || this.take(early)) source.resume();
    else source.pause();
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

  /** Once both sockets have closed (no write can point into it any more): the own buffer goes back to the pool. */
  release(): void {
    if (this.own === null) return;
    giveReadBuffer(this.own);
    this.own = null;
  }

  private onData(chunk: Buffer): void {
    if (!this.take(chunk)) this.source.pause();
  }

  /** Direct mode: `nread` bytes landed in `buffer` (ours, or the shared one: then they are copied out first). */
  private onRead(nread: number, buffer: Buffer): boolean {
    this.lastRead = nread;
    // By its memory, not its identity: a read may land in a view of the shared buffer cut before a rate change.
    const shared = buffer.buffer === sharedReadBuffer.buffer;
    return this.take(shared ? copyOut(buffer, nread) : buffer.subarray(0, nread));
  }

  /** Direct mode, after each read: where the next one goes. */
  private nextReadBuffer(): Buffer {
    const own = this.own;
    if (this.lastRead >= BULK_READ) return this.readBuffer(own ?? (this.own = takeReadBuffer()));
    // A small read: the stream is interactive or winding down. Keep the own buffer only while bytes in it wait.
    if (own === null) return this.readBuffer(sharedReadBuffer);
    if (this.waitingForWrite || this.held !== null) return this.readBuffer(own);
    giveReadBuffer(own);
    this.own = null;
    return this.readBuffer(sharedReadBuffer);
  }

  /** `buffer` (the shared one or our own), cut to the read size the bucket's rate allows; views are cut once. */
  private readBuffer(buffer: Buffer): Buffer {
    const bucket = this.bucket;
    if (bucket === null) return buffer;
    if (bucket.rate !== this.readRate) {
      // A reload may retune the shared bucket: the next read follows.
      this.readRate = bucket.rate;
      this.readSize = limitedReadSize(bucket.rate);
      this.sharedView = sharedReadBuffer.subarray(0, this.readSize);
      this.ownView = null;
    }
    if (this.readSize === READ_BUFFER_SIZE) return buffer;
    if (buffer === sharedReadBuffer) return this.sharedView;
    let view = this.ownView;
    if (view === null || view.buffer !== buffer.buffer) view = this.ownView = buffer.subarray(0, this.readSize);
    return view;
  }

  /** Passes on what the quota budget allows of a chunk just read; false when reading must stop for now. */
  private take(chunk: Buffer): boolean {
    const budget = this.budget;
    if (budget !== null) {
      // Node sized the read; the budget sizes what passes. The rest waits, with reading stopped.
      const allowed = budget.allow(this.dir, chunk.length);
      if (allowed < chunk.length) {
        this.held = chunk.subarray(allowed);
        this.budgetTimer = setTimeout(this.retryBudget, QUOTA_POLL_MS);
        if (allowed > 0) this.pass(chunk.subarray(0, allowed));
        return false;
      }
    }
    return this.pass(chunk);
  }

  /** Writes a chunk on; false when reading must stop (bytes still queued, or the token bucket is in debt). */
  private pass(chunk: Buffer): boolean {
    this.written += chunk.length;
    const destination = this.destination;
    let go = true;
    if (this.direct) {
      // Judged by what is still queued, not by write()'s answer: a chunk above the high-water mark makes write()
      // say false even when the kernel took all of it at once.
      destination.write(chunk, this.onWritten);
      if (destination.writableLength > 0) {
        this.waitingForWrite = true;
        go = false;
      }
    } else if (!destination.write(chunk) && destination.writableLength > 0) {
      this.waitingForWrite = true;
      go = false;
    }
    const bucket = this.bucket;
    if (bucket !== null) {
      const waitMs = bucket.take(chunk.length);
      if (waitMs > 0) {
        if (this.throttleTimer === null) this.throttleTimer = setTimeout(this.resumeAfterThrottle, waitMs);
        go = false;
      }
    }
    return go;
  }

  /** Direct mode: a write finished; once nothing is queued, the buffer is free and reading may go on. */
  private onWritten(): void {
    if (this.waitingForWrite && this.destination.writableLength === 0) {
      this.waitingForWrite = false;
      this.resumeIfFree();
    }
  }

  private onDrain(): void {
    if (!this.waitingForWrite) return;
    this.waitingForWrite = false;
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
    if (this.waitingForWrite || this.throttleTimer !== null || this.budgetTimer !== null || this.source.destroyed) {
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

/**
 * The most a direction limited to `rate` bytes/s reads at once: 1/50 s of it, as the native bucket's chunk, at most
 * a read buffer (0: unlimited).
 */
function limitedReadSize(rate: number): number {
  if (rate <= 0) return READ_BUFFER_SIZE;
  return Math.max(1, Math.min(READ_BUFFER_SIZE, Math.floor(rate / 50)));
}

/** What the socket's stream buffered before the relay took it (a handshake's leftovers), as one chunk; or null. */
function takeBuffered(socket: Socket): Buffer | null {
  if (socket.readableLength === 0) return null;
  const chunks: Buffer[] = [];
  let chunk: Buffer | null;
  while ((chunk = socket.read() as Buffer | null) !== null) chunks.push(chunk);
  if (chunks.length === 0) return null;
  return chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks);
}
