/**
 * Recycled ArrayBuffers for the bodies the pool copies before transferring them. A fresh 1 MiB allocation per task
 * costs the main thread page faults and, above all, V8 external-memory pressure (extra GCs): the bench measured the
 * copy path at ~4x the main-thread time of the zero-copy path at 1 MiB. Workers move the input back with their
 * result and it is reused for the next body of its size class. Bounded: at most `capBytes` are kept idle.
 */
export class BodyBufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private idleBytes = 0;
  reused = 0;
  allocated = 0;

  constructor(
    /** Smaller bodies are copied into exact-size buffers (cheap, and not worth keeping). */
    readonly minBytes = 64 * 1024,
    /** Larger bodies are not kept either (rare; a few would fill the cap). */
    readonly maxBytes = 16 * 1024 * 1024,
    readonly capBytes = 32 * 1024 * 1024,
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
    const ab = this.free.get(size)?.pop();
    let view: Uint8Array;
    if (ab !== undefined) {
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
    }
    list.push(ab);
    this.idleBytes += size;
  }

  get idle(): number {
    return this.idleBytes;
  }
}

/** Next power of two at or above n. */
function sizeClass(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}
