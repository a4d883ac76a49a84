import type { ChannelKind } from '../../config/schema.js';
import type { Dialect } from '../../dialects/types.js';

/** The dialect family of an endpoint: decides the shape of its errors and stream events. */
export type Family = 'openai' | 'anthropic' | 'responses' | 'gemini';

/** One client-facing route. */
export interface Endpoint {
  /** Request path, e.g. `/v1/chat/completions`. */
  readonly path: string;
  readonly method: 'GET' | 'POST';
  /** The request-body dialect, or null for bodiless routes (`/v1/models`). */
  readonly dialect: Dialect | null;
  readonly family: Family;
  /** Gemini routes: the model is in the URL, and the method says whether the answer streams; null elsewhere. */
  readonly inUrl: 'generate' | 'stream' | 'count' | null;
  /** Whether a channel of this kind can serve the endpoint (natively or through conversion). */
  readonly servedBy: Readonly<Record<ChannelKind, boolean>>;
}

export const CHAT: Endpoint = {
  path: '/v1/chat/completions', method: 'POST', dialect: 'openai-chat', family: 'openai', inUrl: null,
  servedBy: { openai: true, anthropic: true, gemini: true },
};
export const COMPLETIONS: Endpoint = {
  path: '/v1/completions', method: 'POST', dialect: 'openai-completions', family: 'openai', inUrl: null,
  servedBy: { openai: true, anthropic: false, gemini: false },
};
export const EMBEDDINGS: Endpoint = {
  path: '/v1/embeddings', method: 'POST', dialect: 'openai-embeddings', family: 'openai', inUrl: null,
  servedBy: { openai: true, anthropic: false, gemini: false },
};
export const MESSAGES: Endpoint = {
  path: '/v1/messages', method: 'POST', dialect: 'anthropic-messages', family: 'anthropic', inUrl: null,
  servedBy: { openai: true, anthropic: true, gemini: true },
};
export const RESPONSES: Endpoint = {
  path: '/v1/responses', method: 'POST', dialect: 'openai-responses', family: 'responses', inUrl: null,
  servedBy: { openai: true, anthropic: true, gemini: true },
};
export const COUNT_TOKENS: Endpoint = {
  path: '/v1/messages/count_tokens', method: 'POST', dialect: 'anthropic-count-tokens', family: 'anthropic',
  inUrl: null,
  servedBy: { openai: true, anthropic: true, gemini: true },
};
export const MODELS: Endpoint = {
  path: '/v1/models', method: 'GET', dialect: null, family: 'openai', inUrl: null,
  servedBy: { openai: true, anthropic: true, gemini: true },
};

export const GEMINI_MODELS: Endpoint = {
  path: '/v1beta/models', method: 'GET', dialect: null, family: 'gemini', inUrl: null,
  servedBy: { openai: true, anthropic: true, gemini: true },
};

const GEMINI_SERVED = { openai: true, anthropic: true, gemini: true } as const;
export const GEMINI_GENERATE: Endpoint = {
  path: '/v1beta/models/{model}:generateContent', method: 'POST', dialect: 'gemini-generate', family: 'gemini',
  inUrl: 'generate', servedBy: GEMINI_SERVED,
};
export const GEMINI_STREAM: Endpoint = {
  path: '/v1beta/models/{model}:streamGenerateContent', method: 'POST', dialect: 'gemini-generate', family: 'gemini',
  inUrl: 'stream', servedBy: GEMINI_SERVED,
};
export const GEMINI_COUNT: Endpoint = {
  path: '/v1beta/models/{model}:countTokens', method: 'POST', dialect: 'gemini-count-tokens', family: 'gemini',
  inUrl: 'count', servedBy: GEMINI_SERVED,
};

const GEMINI_PREFIX = '/v1beta/models/';

/** A Gemini route (`/v1beta/models/{model}:{method}`), or null. */
function geminiEndpoint(path: string): Endpoint | null {
  const colon = path.lastIndexOf(':');
  if (!path.startsWith(GEMINI_PREFIX) || colon <= GEMINI_PREFIX.length) return null;
  switch (path.slice(colon + 1)) {
    case 'generateContent': return GEMINI_GENERATE;
    case 'streamGenerateContent': return GEMINI_STREAM;
    case 'countTokens': return GEMINI_COUNT;
    default: return null;
  }
}

/** The model of a Gemini route's URL (`/v1beta/models/gemini-2.5-pro:generateContent?alt=sse` → gemini-2.5-pro). */
export function modelInUrl(url: string): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const raw = path.slice(GEMINI_PREFIX.length, path.lastIndexOf(':'));
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The endpoint for a request path (query already stripped), or null. A switch: no map lookup, no regex. */
export function findEndpoint(path: string): Endpoint | null {
  switch (path) {
    case '/v1/chat/completions':
    case '/chat/completions':
      return CHAT;
    case '/v1/messages':
      return MESSAGES;
    case '/v1/messages/count_tokens':
      return COUNT_TOKENS;
    case '/v1/responses':
    case '/responses':
      return RESPONSES;
    case '/v1/completions':
    case '/completions':
      return COMPLETIONS;
    case '/v1/embeddings':
    case '/embeddings':
      return EMBEDDINGS;
    case '/v1/models':
    case '/models':
      return MODELS;
    case '/v1beta/models':
      return GEMINI_MODELS;
    default:
      return geminiEndpoint(path);
  }
}

/**
 * The dialect a channel of `kind` speaks for a request of `dialect` (conversion happens when they differ); `responses`:
 * an openai channel that takes the Responses API natively.
 */
export function upstreamDialect(kind: ChannelKind, responses: boolean, dialect: Dialect): Dialect {
  // Anthropic and Gemini channels count their own bodies; the plan counts locally for the others.
  if (dialect === 'anthropic-count-tokens' || dialect === 'gemini-count-tokens') return dialect;
  if (kind === 'anthropic') return 'anthropic-messages';
  if (kind === 'gemini') return 'gemini-generate';
  if (dialect === 'openai-responses') return responses ? dialect : 'openai-chat';
  return dialect === 'anthropic-messages' || dialect === 'gemini-generate' ? 'openai-chat' : dialect;
}

/**
 * Path suffix appended to a channel's baseUrl path, following each SDK's baseUrl convention; Gemini's has the model
 * and the method (with `alt=sse` for a stream).
 */
export function upstreamSuffix(dialect: Dialect, model: string, stream: boolean): string {
  switch (dialect) {
    case 'openai-chat':
      return '/chat/completions';
    case 'openai-completions':
      return '/completions';
    case 'openai-embeddings':
      return '/embeddings';
    case 'anthropic-messages':
      return '/v1/messages';
    case 'openai-responses':
      return '/responses';
    case 'anthropic-count-tokens':
      return '/v1/messages/count_tokens';
    case 'gemini-generate':
      return `/v1beta/models/${encodeURIComponent(model)}:`
        + (stream ? 'streamGenerateContent?alt=sse' : 'generateContent');
    case 'gemini-count-tokens':
      return `/v1beta/models/${encodeURIComponent(model)}:countTokens`;
  }
}

/** The family of a dialect. */
export function familyOf(dialect: Dialect): Family {
  if (dialect === 'openai-responses') return 'responses';
  if (dialect === 'gemini-generate' || dialect === 'gemini-count-tokens') return 'gemini';
  return dialect === 'anthropic-messages' || dialect === 'anthropic-count-tokens' ? 'anthropic' : 'openai';
}
