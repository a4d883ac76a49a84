import type { RelayEngine } from '../engine.js';

export type NativeLoad = { ok: true; engine: RelayEngine } | { ok: false; reason: string };

/** Placeholder until the native splice addon lands: reports that it is not built. */
export function loadNativeEngine(): NativeLoad {
  return { ok: false, reason: 'the native relay addon is not part of this build' };
}
