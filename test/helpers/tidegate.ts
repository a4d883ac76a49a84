import { documentToConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
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

/** Every relay engine that can run here: the shared relay suite runs once per engine. */
export function availableEngines(): EngineFactory[] {
  const engines: EngineFactory[] = [{ kind: 'js', create: () => new JsRelayEngine() }];
  const probe = loadNativeEngine();
  if (probe.ok) {
    void probe.engine.shutdown();
    engines.push({ kind: 'native', create: () => { const l = loadNativeEngine(); if (!l.ok) throw new Error(l.reason); return l.engine; } });
  }
  return engines;
}

/** A config document with test defaults: no admin listener, no SQLite, silent logs, a short grace period. */
export function testConfig(doc: Record<string, unknown>): Config {
  return documentToConfig({ admin: { listen: 'off' }, store: { sqlite: 'off' }, log: { level: 'silent' }, shutdownGrace: '2s', ...doc }, 'test');
}

export interface Running {
  readonly runtime: Runtime;
  readonly records: RelayRecord[];
  /** The bound listen port of a service. */
  port(service: string): number;
  status(service: string): ServiceStatus;
  /** Replaces the config the next reloadFromSource() reads. */
  setSource(doc: Record<string, unknown>): void;
  stop(): Promise<void>;
}

/** Starts a runtime in-process on `doc` with the given engine; records every finished relay. */
export async function startTidegate(doc: Record<string, unknown>, engine?: EngineFactory): Promise<Running> {
  let current = doc;
  const source: ConfigSource = { file: null, load: async () => testConfig(current) };
  const runtime = await Runtime.start(testConfig(doc), { log: createLogger('silent'), source, engine: engine?.create() });
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
    stop: () => runtime.shutdown(),
  };
}
