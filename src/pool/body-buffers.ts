/**
 * Recycled ArrayBuffers for the bodies the pool copies before transferring them. A fresh 1 MiB allocation per task
 * costs the main thread page faults and, above all, V8 external-memory pressure (extra GCs): the bench measured the
 * copy path at ~4x the main-thread time of the zero-copy path at 1 MiB. Workers move the input back with their
 * result and it is reused for the next body of its size class. Bounded: at most `capBytes` are kept idle, and
 * trimmed: every `trimMs`, the buffers of a size class that stayed idle through the whole interval (its low-water
 * mark) are let go, so the pool empties once large bodies stop coming.
 */
export class BodyBufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  /** Per size class: the fewest idle buffers it had since the last trim. */
  private readonly lowWater = new Map<number, number>();
  private idleBytes = 0;
  private trimTimer: NodeJS.Timeout | null = null;
  reused = 0;
  allocated = 0;
  trimmed = 0;

  constructor(
    /** Smaller bodies are copied into exact-size buffers (cheap, and not worth keeping). */
    readonly minBytes = 64 * 1024,
    /** Larger bodies are not kept either (rare; a few would fill the cap). */
    readonly maxBytes = 16 * 1024 * 1024,
    readonly capBytes = 32 * 1024 * 1024,
    readonly trimMs = 30_000,
  ) {}

  /** A copy of `body` in a view that starts its own ArrayBuffer (so the whole buffer can be transferred). */
  copy(body: Uint8Array): Uint8Array {
    const n = body.byteLength;
    if (n < this.minBytes || n > this.maxBytes) {
      const exact = Buffer.allocUnsafeSlow(n);
      exact.set(body);
      return exact;
    }
    const size = sizeClass(n);
    const list = this.free.get(size);
    const ab = list?.pop();
    let view: Uint8Array;
    if (ab !== undefined) {
      if (list!.length < this.lowWater.get(size)!) this.lowWater.set(size, list!.length);
      this.idleBytes -= size;
      this.reused++;
      view = new Uint8Array(ab, 0, n);
    } else {
      this.allocated++;
      view = new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, n);
    }
    view.set(body);
    return view;
  }

  /** Takes back a buffer a worker returned; keeps it if it is of a pooled size class and there is room. */
  release(ab: ArrayBuffer): void {
    const size = ab.byteLength;
    if (size < this.minBytes || size > this.maxBytes || sizeClass(size) !== size) return;
    if (this.idleBytes + size > this.capBytes) return;
    let list = this.free.get(size);
    if (!list) {
      list = [];
      this.free.set(size, list);
      this.lowWater.set(size, 0);
    }
    list.push(ab);
    this.idleBytes += size;
    if (this.trimTimer === null) {
      this.trimTimer = setTimeout(trimTick, this.trimMs, this);
      this.trimTimer.unref();
    }
  }

  /** Lets go of the buffers no body needed since the last trim; runs every `trimMs` while any are idle. */
  trim(): void {
    this.trimTimer = null;
    for (const [size, list] of this.free) {
      const drop = Math.min(this.lowWater.get(size)!, list.length);
      list.length -= drop;
      this.idleBytes -= drop * size;
      this.trimmed += drop;
      this.lowWater.set(size, list.length);
    }
    if (this.idleBytes > 0) {
      this.trimTimer = setTimeout(trimTick, this.trimMs, this);
      this.trimTimer.unref();
    }
  }

  get idle(): number {
    return this.idleBytes;
  }
}

function trimTick(pool: BodyBufferPool): void {
  pool.trim();
}

/** Next power of two at or above n. */
function sizeClass(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}
