import type { GatewayServiceConfig } from '../../config/schema.js';

const cache = new WeakMap<GatewayServiceConfig, { openai: Buffer; anthropic: Buffer }>();

/**
 * `GET /v1/models`, answered locally from the config: every exact model name a channel declares (globs cannot be
 * listed). OpenAI's list shape, or Anthropic's when the client sent `anthropic-version`. Built once per config.
 */
export function listModels(config: GatewayServiceConfig, anthropic: boolean): Buffer {
  let bodies = cache.get(config);
  if (bodies === undefined) {
    const owners = new Map<string, string>();
    for (const c of config.channels) {
      for (const m of c.models) if (!m.includes('*') && !m.includes('?') && !owners.has(m)) owners.set(m, c.name);
    }
    const ids = [...owners.keys()].sort();
    const openai = {
      object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 0, owned_by: owners.get(id)! })),
    };
    const anth = {
      data: ids.map((id) => ({ type: 'model', id, display_name: id, created_at: '1970-01-01T00:00:00Z' })),
      has_more: false,
      first_id: ids[0] ?? null,
      last_id: ids[ids.length - 1] ?? null,
    };
    bodies = { openai: Buffer.from(JSON.stringify(openai)), anthropic: Buffer.from(JSON.stringify(anth)) };
    cache.set(config, bodies);
  }
  return anthropic ? bodies.anthropic : bodies.openai;
}
