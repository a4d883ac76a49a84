import type { GatewayServiceConfig } from '../../config/schema.js';
import type { Channel } from '../upstream/channel.js';
import type { Family } from './endpoints.js';

interface ModelBodies {
  /** The channels and catalog versions the bodies were built from. */
  readonly channels: ReadonlyMap<string, Channel>;
  readonly stamp: number;
  readonly openai: Buffer;
  readonly anthropic: Buffer;
  readonly gemini: Buffer;
}

const cache = new WeakMap<GatewayServiceConfig, ModelBodies>();

/**
 * `GET /v1/models` and `GET /v1beta/models`, answered locally: every exact model name a channel declares, every key
 * of its modelMap, and the names its upstream lists (`modelsRefresh`) that its globs match. OpenAI's list shape,
 * Anthropic's when the client sent `anthropic-version`, Gemini's on `/v1beta/models`. Built again only when the
 * config or a fetched list changed.
 */
export function listModels(
  config: GatewayServiceConfig, channels: ReadonlyMap<string, Channel>, family: Family,
): Buffer {
  let bodies = cache.get(config);
  const stamp = catalogStamp(channels);
  if (bodies === undefined || bodies.channels !== channels || bodies.stamp !== stamp) {
    bodies = buildBodies(config, channels, stamp);
    cache.set(config, bodies);
  }
  return family === 'anthropic' ? bodies.anthropic : family === 'gemini' ? bodies.gemini : bodies.openai;
}

function catalogStamp(channels: ReadonlyMap<string, Channel>): number {
  let stamp = 0;
  for (const c of channels.values()) stamp += c.catalog.version;
  return stamp;
}

function buildBodies(
  config: GatewayServiceConfig, channels: ReadonlyMap<string, Channel>, stamp: number,
): ModelBodies {
  const owners = new Map<string, string>();
  for (const c of config.channels) {
    for (const m of c.models) if (!m.includes('*') && !m.includes('?') && !owners.has(m)) owners.set(m, c.name);
    for (const m of Object.keys(c.modelMap)) if (!owners.has(m)) owners.set(m, c.name);
    const live = channels.get(c.name);
    if (live === undefined) continue;
    for (const m of live.catalog.names) if (!owners.has(m) && live.models.matches(m)) owners.set(m, c.name);
  }
  const ids = [...owners.keys()].sort();
  const openai = {
    object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 0, owned_by: owners.get(id)! })),
  };
  const anthropic = {
    data: ids.map((id) => ({ type: 'model', id, display_name: id, created_at: '1970-01-01T00:00:00Z' })),
    has_more: false,
    first_id: ids[0] ?? null,
    last_id: ids[ids.length - 1] ?? null,
  };
  const gemini = { models: ids.map((id) => ({ name: `models/${id}`, displayName: id })) };
  return {
    channels, stamp,
    openai: Buffer.from(JSON.stringify(openai)),
    anthropic: Buffer.from(JSON.stringify(anthropic)),
    gemini: Buffer.from(JSON.stringify(gemini)),
  };
}
