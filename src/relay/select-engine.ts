import type { Logger } from '../log.js';
import type { RelayEngine } from '../contracts/relay-engine.js';
import { JsRelayEngine } from './js/engine.js';

export interface EngineChoice {
  readonly engine: RelayEngine;
  /** Why the native engine is not in use, when it is not. */
  readonly fallbackReason: string | null;
}

/**
 * The native splice engine when its addon loads, else the JavaScript engine. `TIDEGATE_RELAY=js` forces JS;
 * `TIDEGATE_RELAY=native` makes a missing addon an error instead of a fallback.
 */
export async function selectRelayEngine(log: Logger, env = process.env): Promise<EngineChoice> {
  const wanted = env.TIDEGATE_RELAY ?? 'auto';
  if (wanted === 'js') return { engine: new JsRelayEngine(), fallbackReason: 'TIDEGATE_RELAY=js' };
  let reason: string;
  try {
    const native = (await import('./native/index.js')) as typeof import('./native/index.js');
    const loaded = native.loadNativeEngine();
    if (loaded.ok) return { engine: loaded.engine, fallbackReason: null };
    reason = loaded.reason;
  } catch (err) {
    reason = `native relay module unavailable: ${(err as Error).message}`;
  }
  if (wanted === 'native') throw new Error(`TIDEGATE_RELAY=native but the native relay cannot load: ${reason}`);
  log.warn({ reason }, 'native splice relay unavailable; using the JavaScript relay');
  return { engine: new JsRelayEngine(), fallbackReason: reason };
}
