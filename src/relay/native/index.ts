import type { RelayEngine } from '../../contracts/relay-engine.js';
import { loadAddon, type NativeEngineOptions } from './binding.js';
import { NativeRelayEngine } from './engine.js';

export { NativeRelayEngine } from './engine.js';
export type { NativeEngineOptions, NativeEngineStats } from './binding.js';

export type NativeLoad = { ok: true; engine: RelayEngine } | { ok: false; reason: string };

/**
 * Environment knobs, read once per engine:
 * - `TIDEGATE_PIPE_SIZE` (bytes): the wanted pipe size. A test and perf-gate hook: `65536` forces small pipes, which
 *   slows the relay measurably (the perf gate uses it to prove it catches a slowed candidate).
 * - `TIDEGATE_RELAY_THREADS`: epoll threads in the addon (default 1).
 * - `TIDEGATE_NATIVE_ACCEPT=0`: forward services keep Node's accept path (the addon accepts for those that qualify
 *   by default; an A/B and an escape hatch).
 * - `TIDEGATE_NATIVE_GRANTS=0`: no admission ahead (native/README.md): every connection the addon accepts waits for
 *   JS's decision, as with a service that does not qualify (an A/B and an escape hatch).
 */
export function nativeOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): NativeEngineOptions {
  const options: { pipeSize?: number; threads?: number; accept?: boolean; grants?: boolean } = {};
  if (env['TIDEGATE_NATIVE_ACCEPT'] === '0') options.accept = false;
  if (env['TIDEGATE_NATIVE_GRANTS'] === '0') options.grants = false;
  const pipeSize = Number(env['TIDEGATE_PIPE_SIZE']);
  if (env['TIDEGATE_PIPE_SIZE'] !== undefined && Number.isInteger(pipeSize) && pipeSize >= 4096) {
    options.pipeSize = pipeSize;
  }
  const threads = Number(env['TIDEGATE_RELAY_THREADS']);
  if (env['TIDEGATE_RELAY_THREADS'] !== undefined && Number.isInteger(threads) && threads >= 1 && threads <= 64) {
    options.threads = threads;
  }
  return options;
}

/** Loads the splice relay (prebuilds, then build/Release). Never throws: a failure says why. */
export function loadNativeEngine(options?: NativeEngineOptions): NativeLoad {
  if (process.platform !== 'linux') {
    return { ok: false, reason: `the native relay needs Linux (splice, epoll); this is ${process.platform}` };
  }
  try {
    const addon = loadAddon();
    const engine = new NativeRelayEngine(addon.NativeRelayEngine, { ...nativeOptionsFromEnv(), ...options });
    return { ok: true, engine };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { ok: false, reason: `the native relay addon did not load: ${why}` };
  }
}
