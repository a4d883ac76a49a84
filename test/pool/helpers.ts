import type { PoolConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { createWorkerPool, type WorkerPool } from '../../src/pool/index.js';

export const silent = createLogger('silent');

export function poolConfig(over: Partial<PoolConfig> = {}): PoolConfig {
  return { threads: 1, jsonOffloadBytes: 0, maxQueue: 16, idleTimeoutMs: 5_000, ...over };
}

export function makePool(over: Partial<PoolConfig> = {}, jsonOffloadBytes = 0): WorkerPool {
  return createWorkerPool(poolConfig(over), silent, { jsonOffloadBytes });
}

/** A hold flag plus helpers: wait until the worker is parked, then release or crash it. */
export class Hold {
  readonly sab = new SharedArrayBuffer(8);
  private readonly view = new Int32Array(this.sab);
  async parked(): Promise<void> {
    // Atomics.waitAsync is in Node 20 but not in the ES2022 lib typings.
    type WaitAsync = (
      a: Int32Array, i: number, v: number, t: number,
    ) => { async: boolean; value: Promise<string> | string };
    const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
    const r = waitAsync(this.view, 1, 0, 10_000);
    if (r.async) await r.value;
  }
  release(): void {
    Atomics.store(this.view, 0, 1);
    Atomics.notify(this.view, 0);
  }
  crash(): void {
    Atomics.store(this.view, 0, 2);
    Atomics.notify(this.view, 0);
  }
}
