import type { ChannelKind } from '../../config/schema.js';
import type { Dialect } from '../../dialects/types.js';

/** The dialect family of an endpoint: decides the shape of its errors and stream events. */
export type Family = 'openai' | 'anthropic';

/** One client-facing route. */
export interface Endpoint {
  /** Request path, e.g. `/v1/chat/completions`. */
  readonly path: string;
  readonly method: 'GET' | 'POST';
  /** The request-body dialect, or null for bodiless routes (`/v1/models`). */
  readonly dialect: Dialect | null;
  readonly family: Family;
  /** Whether a channel of this kind can serve the endpoint (natively or through conversion). */
  readonly servedBy: Readonly<Record<ChannelKind, boolean>>;
}

export const CHAT: Endpoint = {
  path: '/v1/chat/completions', method: 'POST', dialect: 'openai-chat', family: 'openai',
  servedBy: { openai: true, anthropic: true },
};
export const COMPLETIONS: Endpoint = {
  path: '/v1/completions', method: 'POST', dialect: 'openai-completions', family: 'openai',
  servedBy: { openai: true, anthropic: false },
};
export const EMBEDDINGS: Endpoint = {
  path: '/v1/embeddings', method: 'POST', dialect: 'openai-embeddings', family: 'openai',
  servedBy: { openai: true, anthropic: false },
};
export const MESSAGES: Endpoint = {
  path: '/v1/messages', method: 'POST', dialect: 'anthropic-messages', family: 'anthropic',
  servedBy: { openai: true, anthropic: true },
};
export const MODELS: Endpoint = {
  path: '/v1/models', method: 'GET', dialect: null, family: 'openai',
  servedBy: { openai: true, anthropic: true },
};

/** The endpoint for a request path (query already stripped), or null. A switch: no map lookup, no regex. */
export function findEndpoint(path: string): Endpoint | null {
  switch (path) {
    case '/v1/chat/completions':
    case '/chat/completions':
      return CHAT;
    case '/v1/messages':
      return MESSAGES;
    case '/v1/completions':
    case '/completions':
      return COMPLETIONS;
    case '/v1/embeddings':
    case '/embeddings':
      return EMBEDDINGS;
    case '/v1/models':
    case '/models':
      return MODELS;
    default:
      return null;
  }
}

/** The dialect a channel of `kind` speaks for a request of `dialect` (conversion happens when they differ). */
export function upstreamDialect(kind: ChannelKind, dialect: Dialect): Dialect {
  if (kind === 'anthropic') return 'anthropic-messages';
  return dialect === 'anthropic-messages' ? 'openai-chat' : dialect;
}

/** Path suffix appended to a channel's baseUrl path, following each SDK's baseUrl convention. */
export function upstreamSuffix(dialect: Dialect): string {
  switch (dialect) {
    case 'openai-chat':
      return '/chat/completions';
    case 'openai-completions':
      return '/completions';
    case 'openai-embeddings':
      return '/embeddings';
    case 'anthropic-messages':
      return '/v1/messages';
  }
}

/** The family of a dialect. */
export function familyOf(dialect: Dialect): Family {
  return dialect === 'anthropic-messages' ? 'anthropic' : 'openai';
}
