import { request } from 'undici';
import type { Channel } from './channel.js';
import { upstreamHeaders } from './request.js';

/** A models list longer than this many pages is cut (each page holds up to 1000 names). */
const MAX_PAGES = 20;
/** A models answer larger than this is refused (a real list is tens of KiB). */
const MAX_BYTES = 8 << 20;
const TIMEOUT_MS = 10_000;

interface Page {
  readonly names: string[];
  /** The query of the next page, or null at the last. */
  readonly next: string | null;
}

/**
 * Reads the channel's upstream model list, every page: OpenAI `GET {base}/models` (`data[].id`), Anthropic
 * `GET {base}/v1/models` (`data[].id`, `has_more`/`last_id`), Gemini `GET {base}/v1beta/models` (`models[].name`
 * without `models/`, `nextPageToken`). Throws with the reason on a failure; names come back sorted and unique.
 */
export async function fetchModels(channel: Channel, now: number): Promise<string[]> {
  const credential = channel.keys.next(now);
  if (credential === null) throw new Error('the channel has no usable key');
  const headers = upstreamHeaders(channel, credential, {}, false);
  const names = new Set<string>();
  let query: string | null = firstQuery(channel);
  for (let page = 0; page < MAX_PAGES && query !== null; page++) {
    const url = channel.origin + channel.basePath + modelsPath(channel) + query;
    const res = await request(url, { method: 'GET', headers, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
    const declared = Number(res.headers['content-length']);
    if (declared > MAX_BYTES) {
      await res.body.dump();
      throw new Error(`the models answer is too large (${declared} bytes)`);
    }
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      throw new Error(`the models endpoint answered ${res.statusCode}: ${text.slice(0, 200)}`);
    }
    const p = parsePage(channel, text);
    for (const n of p.names) names.add(n);
    query = p.next;
  }
  return [...names].sort();
}

function modelsPath(channel: Channel): string {
  return channel.kind === 'openai' ? '/models' : channel.kind === 'anthropic' ? '/v1/models' : '/v1beta/models';
}

function firstQuery(channel: Channel): string {
  return channel.kind === 'anthropic' ? '?limit=1000' : channel.kind === 'gemini' ? '?pageSize=1000' : '';
}

function parsePage(channel: Channel, text: string): Page {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error('the models answer is not JSON');
  }
  if (body === null || typeof body !== 'object') throw new Error('the models answer is not an object');
  const o = body as Record<string, unknown>;
  const names: string[] = [];
  if (channel.kind === 'gemini') {
    const list = o.models;
    if (!Array.isArray(list)) throw new Error('the models answer has no "models" list');
    for (const m of list as Record<string, unknown>[]) {
      const name = m !== null && typeof m === 'object' ? m.name : undefined;
      if (typeof name === 'string') names.push(name.startsWith('models/') ? name.slice(7) : name);
    }
    const token = o.nextPageToken;
    const more = typeof token === 'string' && token.length > 0;
    return { names, next: more ? `?pageSize=1000&pageToken=${encodeURIComponent(token)}` : null };
  }
  const list = o.data;
  if (!Array.isArray(list)) throw new Error('the models answer has no "data" list');
  for (const m of list as Record<string, unknown>[]) {
    const id = m !== null && typeof m === 'object' ? m.id : undefined;
    if (typeof id === 'string' && id.length > 0) names.push(id);
  }
  const last = o.last_id;
  const more = channel.kind === 'anthropic' && o.has_more === true && typeof last === 'string';
  return { names, next: more ? `?limit=1000&after_id=${encodeURIComponent(last)}` : null };
}
