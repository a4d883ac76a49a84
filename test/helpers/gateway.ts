import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { Logger } from '../../src/log.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { MockUpstream, type MockUpstreamOptions } from '../fixtures/llm-upstream.js';
import { tempDir } from './temp.js';
import type { JsonObject } from './http.js';
import { startTidegate, type Running } from './tidegate.js';

/** One gateway request's usage record, as the runtime's hook hands it over. */
export type UsageRecord = Parameters<Parameters<Runtime['onGatewayRequest']>[0]>[0];

/** A mock upstream by its dialect alone, or with options (`name` defaults to its key in `upstreams`). */
export type UpstreamSpec =
  | MockUpstreamOptions['dialect']
  | (Omit<MockUpstreamOptions, 'name'> & { readonly name?: string });

/** The mock upstreams of a gateway, by name. */
export type Upstreams<K extends string> = Readonly<Record<K, MockUpstream>>;

export interface GatewayOptions<K extends string> {
  /** Mock LLM upstreams, started before the gateway and closed after it. */
  readonly upstreams?: Readonly<Record<K, UpstreamSpec>>;
  /**
   * The gateway service's config (`name: llm` and `listen: 127.0.0.1:0` are added), built once the upstreams listen;
   * by default one channel per upstream (see `channel`).
   */
  readonly gateway?: (up: Upstreams<K>) => Record<string, unknown> | Promise<Record<string, unknown>>;
  readonly users?: readonly {
    id: string; keys: (string | Record<string, unknown>)[]; quota?: Record<string, unknown>;
    limits?: Record<string, unknown>;
  }[];
  /** Write the request log to SQLite (a temp file); off by default. */
  readonly sqlite?: boolean;
  readonly log?: Logger;
  /** The `pool` section (threads, jsonOffloadBytes, maxQueue); one thread by default. */
  readonly pool?: Record<string, unknown>;
  /** The top-level `gateway` section (bodyBudget, bodyTimeout), shared by every gateway service. */
  readonly limits?: Record<string, unknown>;
  /** More top-level keys (`prices`, `pricesFile`, `unpriced`, `admin`…); they win over the ones above. */
  readonly config?: Record<string, unknown>;
}

/**
 * A running gateway (service `llm`) and its mock upstreams. The upstreams exist from the start (`up.oa` can be
 * destructured while the suite is declared); they listen, and the runtime runs, once started.
 */
export class Gateway<K extends string> {
  readonly up: Readonly<Record<K, MockUpstream>>;
  /** Every gateway usage record (the per-request hook), in order. */
  readonly usage: UsageRecord[] = [];
  private readonly options: GatewayOptions<K>;
  private tg: Running | null = null;
  private tempDir: string | null = null;
  private origin = '';
  /** The top-level keys in force (`config`, replaced by reload(gateway, config)). */
  private extra: Record<string, unknown>;

  constructor(options: GatewayOptions<K>) {
    this.options = options;
    this.extra = options.config ?? {};
    const up = {} as Record<K, MockUpstream>;
    for (const [key, spec] of Object.entries(options.upstreams ?? {}) as [K, UpstreamSpec][]) {
      const options = typeof spec === 'string' ? { dialect: spec, name: key } : { ...spec, name: spec.name ?? key };
      up[key] = new MockUpstream(options);
    }
    this.up = up;
  }

  async start(): Promise<void> {
    for (const u of Object.values<MockUpstream>(this.up)) await u.listen();
    this.tempDir = tempDir('tidegate-gw-');
    this.tg = await startTidegate(await this.document(), { log: this.options.log });
    this.tg.runtime.onGatewayRequest((r) => this.usage.push(r));
    this.origin = `http://${this.tg.runtime.status().services[0]!.listen}`;
  }

  async close(): Promise<void> {
    await this.tg?.stop();
    for (const u of Object.values<MockUpstream>(this.up)) await u.close();
    if (this.tempDir !== null) rmSync(this.tempDir, { recursive: true, force: true });
  }

  get runtime(): Runtime {
    if (this.tg === null) throw new Error('the gateway is not started (use it inside a test)');
    return this.tg.runtime;
  }

  /** `http://127.0.0.1:PORT` */
  get url(): string {
    if (this.tg === null) throw new Error('the gateway is not started (use it inside a test)');
    return this.origin;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** A temp directory, removed at close. */
  get dir(): string {
    return this.tempDir!;
  }

  /** The SQLite request log, when `sqlite` is on. */
  get dbFile(): string | null {
    return this.options.sqlite ? join(this.dir, 'runtime.db') : null;
  }

  /** The service's status detail (channels, affinity, requests, bodyBudget…). */
  detail<T = JsonObject>(): T {
    return this.runtime.status().services[0]!.detail as T;
  }

  /** One channel's entry in the status detail. */
  channel(name: string): JsonObject {
    return this.detail<{ channels: JsonObject[] }>().channels.find((c) => c.name === name)!;
  }

  /**
   * Applies a gateway service config (by default the one it started with, built again) through the runtime's
   * reload: same listen address, so an in-place update.
   */
  async reload(gateway?: Record<string, unknown>, config?: Record<string, unknown>): Promise<void> {
    if (config !== undefined) this.extra = config;
    await this.tg!.reload(gateway === undefined ? await this.document() : this.documentFor(gateway));
  }

  /**
   * Reloads the way SIGHUP does: the runtime reads and validates the source again, here the start document with
   * `config` as its top-level keys. Returns the runtime's result; a config error refuses the reload and is thrown.
   */
  async reloadFromSource(config: Record<string, unknown>): ReturnType<Runtime['reloadFromSource']> {
    const previous = this.extra;
    this.extra = config;
    this.tg!.setSource(await this.document());
    try {
      const result = await this.runtime.reloadFromSource();
      if (!result.ok) this.extra = previous;
      return result;
    } catch (err) {
      this.extra = previous;
      this.tg!.setSource(await this.document());
      throw err;
    }
  }

  private async document(): Promise<Record<string, unknown>> {
    const gateway = this.options.gateway ?? defaultGateway;
    return this.documentFor(await gateway(this.up));
  }

  private documentFor(gateway: Record<string, unknown>): Record<string, unknown> {
    const o = this.options;
    return {
      store: { sqlite: this.dbFile ?? 'off' },
      pool: o.pool ?? { threads: 1 },
      ...(o.limits ? { gateway: o.limits } : {}),
      users: o.users ?? [],
      ...this.extra,
      services: [{ name: 'llm', type: 'gateway', listen: '127.0.0.1:0', ...gateway }],
    };
  }
}

/** A gateway for the enclosing suite: started in its `before`, closed in its `after`. */
export function withGateway<K extends string = never>(options: GatewayOptions<K>): Gateway<K> {
  const gw = new Gateway(options);
  before(() => gw.start());
  after(() => gw.close());
  return gw;
}

function defaultGateway(up: Readonly<Record<string, MockUpstream>>): Record<string, unknown> {
  return { channels: Object.values(up).map((u) => channel(u)) };
}

/** A channel over a mock upstream: its name, dialect and URL, key `k`; `extra` adds or overrides fields. */
export function channel(up: MockUpstream, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: up.options.name, kind: up.options.dialect, baseUrl: up.baseUrl, keys: ['k'], ...extra };
}

/**
 * The usage scenario (accounting and the request log): an OpenAI and an Anthropic upstream with distinct token
 * counts (21 + 9 and 13 + 5), models routed by prefix, users alice (key `ka`) and bob (`kb`).
 */
export function usageGateway(options: { sqlite?: boolean } = {}): GatewayOptions<'oa' | 'an'> {
  return {
    ...options,
    upstreams: {
      oa: { dialect: 'openai', usage: { prompt: 21, completion: 9 } },
      an: { dialect: 'anthropic', usage: { prompt: 13, completion: 5 } },
    },
    gateway: ({ oa, an }) => ({
      channels: [channel(oa, { models: ['gpt-*'] }), channel(an, { models: ['claude-*'] })],
    }),
    users: [{ id: 'alice', keys: ['ka'] }, { id: 'bob', keys: ['kb'] }],
  };
}

/** A gateway started inside a test (one that needs its own); the caller closes it. */
export async function startGateway<K extends string = never>(options: GatewayOptions<K>): Promise<Gateway<K>> {
  const gw = new Gateway(options);
  try {
    await gw.start();
  } catch (err) {
    await gw.close();
    throw err;
  }
  return gw;
}

/** What helpers of a test file need of a gateway, whatever its upstreams. */
export type GatewayView = Pick<Gateway<string>, 'runtime' | 'url' | 'port' | 'detail' | 'channel'>;

/** The plainest gateway: one OpenAI upstream `up` behind channel `up` (key `k`, models `gpt-*`). */
export const oneChannel: GatewayOptions<'up'> = {
  upstreams: { up: 'openai' },
  gateway: ({ up }) => ({ channels: [channel(up, { models: ['gpt-*'] })] }),
};
