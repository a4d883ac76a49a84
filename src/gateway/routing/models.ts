import type { GatewayServiceConfig } from '../../config/schema.js';
import type { Family } from './endpoints.js';

interface ModelBodies {
  readonly openai: Buffer;
  readonly anthropic: Buffer;
  readonly gemini: Buffer;
}

const cache = new WeakMap<GatewayServiceConfig, ModelBodies>();

/**
 * `GET /v1/models` and `GET /v1beta/models`, answered locally from the config: every exact model name a channel
 * declares and every key of its modelMap (globs cannot be listed). OpenAI's list shape, Anthropic's when the client
 * sent `anthropic-version`, Gemini's on `/v1beta/models`. Built once per config.
 */
export function listModels(config: GatewayServiceConfig, family: Family): Buffer {
  let bodies = cache.get(config);
  if (bodies === undefined) {
    bodies = buildBodies(config);
    cache.set(config, bodies);
  }
  return family === 'anthropic' ? bodies.anthropic : family === 'gemini' ? bodies.gemini : bodies.openai;
}

function buildBodies(config: GatewayServiceConfig): ModelBodies {
  const owners = new Map<string, string>();
  for (const c of config.channels) {
    for (const m of c.models) if (!m.includes('*') && !m.includes('?') && !owners.has(m)) owners.set(m, c.name);
    for (const m of Object.keys(c.modelMap)) if (!owners.has(m)) owners.set(m, c.name);
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
    openai: Buffer.from(JSON.stringify(openai)),
    anthropic: Buffer.from(JSON.stringify(anthropic)),
    gemini: Buffer.from(JSON.stringify(gemini)),
  };
}
