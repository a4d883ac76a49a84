import type { Clock } from '../../src/accounting/period.js';
import { documentToConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createLogger, type Logger } from '../../src/log.js';
import type { RelayEngine } from '../../src/contracts/relay-engine.js';
import { JsRelayEngine } from '../../src/relay/js/engine.js';
import { loadNativeEngine } from '../../src/relay/native/index.js';
import type { RelayRecord } from '../../src/contracts/records.js';
import type { ServiceStatus } from '../../src/contracts/service-status.js';
import { Runtime } from '../../src/runtime/runtime.js';
import type { ConfigSource } from '../../src/runtime/config-source.js';

export interface EngineFactory {
  readonly kind: RelayEngine['kind'];
  create(): RelayEngine;
}

/** The JavaScript relay engine, always available. */
export const jsEngine: EngineFactory = { kind: 'js', create: () => new JsRelayEngine() };

/** Every relay engine that can run here: the shared relay suite runs once per engine. */
export function availableEngines(): EngineFactory[] {
  const engines: EngineFactory[] = [jsEngine];
  const probe = loadNativeEngine();
  if (probe.ok) {
    void probe.engine.shutdown();
    engines.push({ kind: 'native', create: nativeEngine });
  }
  return engines;
}

function nativeEngine(): RelayEngine {
  const load = loadNativeEngine();
  if (!load.ok) throw new Error(load.reason);
  return load.engine;
}

/** The available engines, minus the native one when TIDEGATE_RELAY=js forces the JS engine. */
export function engines(): EngineFactory[] {
  const all = availableEngines();
  return process.env.TIDEGATE_RELAY === 'js' ? all.filter((e) => e.kind === 'js') : all;
}

/** What a test config has unless it says otherwise: no admin listener, no SQLite, silent logs, a short grace. */
const TEST_DEFAULTS = {
  admin: { listen: 'off' }, store: { sqlite: 'off' }, log: { level: 'silent' }, shutdownGrace: '2s',
};

/** A config document over the test defaults. */
export function testConfig(doc: Record<string, unknown>): Config {
  return documentToConfig({ ...TEST_DEFAULTS, ...doc }, 'test');
}

export interface StartOptions {
  /** The relay engine; without one the runtime picks it as in production (native when built, TIDEGATE_RELAY). */
  readonly engine?: EngineFactory;
  readonly clock?: Clock;
  readonly redisPrefix?: string;
  readonly log?: Logger;
}

export interface Running {
  readonly runtime: Runtime;
  /** Every finished relay, in order. */
  readonly records: RelayRecord[];
  /** The bound listen port of a service. */
  port(service: string): number;
  status(service: string): ServiceStatus;
  /** Replaces the config the next reloadFromSource() reads. */
  setSource(doc: Record<string, unknown>): void;
  /** Applies `doc` (with the test defaults) through the runtime's reload; throws when a service failed. */
  reload(doc: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a runtime in-process on `doc` (with the test defaults); records every finished relay. */
export async function startTidegate(doc: Record<string, unknown>, options: StartOptions = {}): Promise<Running> {
  let current = doc;
  const source: ConfigSource = { file: null, load: async () => testConfig(current) };
  const runtime = await Runtime.start(testConfig(doc), {
    log: options.log ?? createLogger('silent'),
    source,
    engine: options.engine?.create(),
    clock: options.clock,
    redisPrefix: options.redisPrefix,
  });
  const records: RelayRecord[] = [];
  runtime.onRelayClosed((r) => records.push(r));
  const status = (name: string): ServiceStatus => {
    const s = runtime.status().services.find((x) => x.name === name);
    if (!s) throw new Error(`no service ${name}`);
    return s;
  };
  return {
    runtime,
    records,
    status,
    port: (name) => Number(status(name).listen.split(':').pop()),
    setSource(next) {
      current = next;
    },
    async reload(next) {
      current = next;
      const result = await runtime.reload(testConfig(next));
      if (!result.ok) throw new Error(`reload failed: ${JSON.stringify(result.failed)}`);
    },
    // The grace in force: `current` may be a config a test set invalid on purpose (a reload that must fail).
    stop: () => stopWithin(runtime, runtime.config.shutdownGraceMs + STOP_WATCHDOG_MS),
  };
}

/**
 * How long a stop may run past the grace before the test fails with what is still open: a relay that never closes
 * would otherwise hang the suite until CI times out, saying nothing.
 */
const STOP_WATCHDOG_MS = 30_000;

/** `runtime.shutdown()`, or an error naming the services and relays still live once `limitMs` has passed. */
function stopWithin(runtime: Runtime, limitMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const live = runtime.status().services.filter((s) => s.connections.live > 0)
        .map((s) => `${s.name}: ${s.connections.live} live (${s.state})`);
      const engine = runtime.engine;
      const relays = engine instanceof JsRelayEngine ? `, ${engine.liveCount} JS relays open` : '';
      reject(new Error(`tidegate did not stop within ${limitMs} ms: ${live.join('; ') || 'no live service'}${relays}`));
    }, limitMs);
  });
  return Promise.race([runtime.shutdown(), watchdog]).finally(() => clearTimeout(timer));
}
