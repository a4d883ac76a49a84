import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Options of the addon's engine object (native/addon.cc). */
export interface NativeEngineOptions {
  /** Epoll threads; relays are spread over them by id. Default 1. */
  readonly threads?: number;
  /** Wanted pipe size in bytes (capped by /proc/sys/fs/pipe-max-size). Default 1 MiB. */
  readonly pipeSize?: number;
  /** Total pipe capacity the engine may hold at once. Default: half of pipe-user-pages-soft. */
  readonly pipeBudget?: number;
  /** Empty pipes kept for reuse per thread. Default 64. */
  readonly maxPooledPipes?: number;
  /** Hard cap on pipes open at once (0 = only the budget). Beyond it a direction copies instead. */
  readonly maxPipes?: number;
  /** Test hook: relays copy through buffers as if splice were refused (the EINVAL/ENOSYS fallback). */
  readonly forceCopy?: boolean;
}

export interface NativeEngineStats {
  readonly threads: number;
  readonly pipeTargetSize: number;
  readonly pipeBudget: number;
  readonly pipeBytesOpen: number;
  readonly pipesOpen: number;
  readonly pipesInUse: number;
  readonly pipesPooled: number;
  readonly pipesCreated: number;
  readonly pipesReused: number;
  readonly pipesReduced: number;
  readonly pipesUnavailable: number;
  readonly pipesDiscardedFull: number;
  readonly liveRelays: number;
  readonly copyFallbacks: number;
  readonly epollFds: readonly number[];
}

/**
 * The addon's engine object. Records arrive as [id, bytesIn, bytesOut, code] quads. Code -1: live counters; 0–6: the
 * relay closed with that reason (+16 when an engine-side dial never connected); 32: a connect failed, errno in the
 * second field; 33: the target connected (when the dial asked).
 */
export interface NativeEngineBinding {
  start(
    id: number,
    clientFd: number,
    targetFd: number,
    pendingToTarget: Buffer | null,
    pendingToClient: Buffer | null,
    idleTimeoutMs: number,
    halfCloseTimeoutMs: number,
    limitId: number,
    budgetId: number,
  ): void;
  /** The sockaddr for `dial` and `redial`; null when `host` is not an IP literal. */
  address(host: string, port: number): Buffer | null;
  dial(
    id: number,
    clientFd: number,
    pendingToTarget: Buffer | null,
    idleTimeoutMs: number,
    halfCloseTimeoutMs: number,
    limitId: number,
    address: Buffer,
    connectTimeoutMs: number,
    reportConnect: boolean,
    noDelay: boolean,
    keepAliveMs: number,
    greeting: Buffer | null,
    budgetId: number,
  ): void;
  redial(id: number, address: Buffer, connectTimeoutMs: number, reportConnect: boolean): void;
  /** `farewell` goes to the client first when the relay never connected. */
  close(id: number, reason: number, farewell?: Buffer | null): void;
  createLimit(inBytesPerSec: number, outBytesPerSec: number): number;
  setLimit(id: number, inBytesPerSec: number, outBytesPerSec: number): void;
  disposeLimit(id: number): void;
  createBudget(): number;
  /** `limit` < 0: no limit. */
  setBudget(id: number, limit: number, countIn: boolean, countOut: boolean): void;
  disposeBudget(id: number): void;
  ref(): void;
  unref(): void;
  shutdown(): void;
  stats(): NativeEngineStats;
}

export interface NativeAddon {
  NativeRelayEngine: new (onStats: (records: Float64Array) => void, options: NativeEngineOptions) => NativeEngineBinding;
}

/** The package root: the nearest directory above this file holding binding.gyp. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('binding.gyp not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

let cached: NativeAddon | null = null;

/** Loads the addon with node-gyp-build: prebuilds/ first, then build/Release. Throws when neither loads. */
export function loadAddon(): NativeAddon {
  if (cached !== null) return cached;
  const require = createRequire(import.meta.url);
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  const addon = nodeGypBuild(packageRoot()) as Partial<NativeAddon>;
  if (typeof addon.NativeRelayEngine !== 'function') throw new Error('the addon does not export NativeRelayEngine');
  cached = addon as NativeAddon;
  return cached;
}
