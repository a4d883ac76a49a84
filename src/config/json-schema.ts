import { BASE_KEYS, TCP_KEYS } from './sections/service-base.js';
import { FORWARD_KEYS, STRATEGIES } from './sections/forward.js';
import { GATEWAY_KEYS } from './sections/gateway.js';
import { PROXY_KEYS } from './sections/proxy.js';
import { QUOTA_KEYS, USER_KEYS } from './sections/users.js';

/**
 * JSON Schemas (2020-12) of a user and a service as the admin API takes them, i.e. in config-file syntax. The
 * property names come from the section readers' own key lists, so a key added to a reader appears here; values
 * the readers parse (sizes, durations, rates) are described, and the readers stay the one judge of validity.
 */
type Schema = Record<string, unknown>;

const SIZE: Schema = { oneOf: [{ type: 'string', examples: ['100GiB'] }, { type: 'integer', minimum: 0 }] };
const DURATION: Schema = { oneOf: [{ type: 'string', examples: ['45s', '500ms'] }, { type: 'integer', minimum: 0 }] };
const RATE: Schema = {
  type: 'object',
  properties: {
    in: { oneOf: [{ type: 'string', examples: ['10MiB/s'] }, { type: 'number' }] },
    out: { oneOf: [{ type: 'string' }, { type: 'number' }] },
  },
  additionalProperties: false,
};
const DATE: Schema = { type: 'string', examples: ['2026-12-31', '2026-12-31T00:00:00Z'] };
const HOST_PORT: Schema = { type: 'string', examples: ['127.0.0.1:8080', '127.0.0.1:auto'] };

/** Known value schemas by key; any other key listed by a reader is described as "see the configuration reference". */
const VALUES: Record<string, Schema> = {
  id: { type: 'string', minLength: 1 },
  name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
  enabled: { type: 'boolean' },
  ports: { type: 'string', pattern: '^[0-9]{1,5}-[0-9]{1,5}$', examples: ['30000-30099'] },
  expires: DATE,
  keys: {
    type: 'array',
    items: {
      oneOf: [
        { type: 'string', minLength: 1 },
        {
          type: 'object',
          properties: {
            key: { type: 'string', minLength: 1 }, name: { type: 'string' }, quota: { type: 'object' },
            limits: { type: 'object' }, expires: DATE,
          },
          required: ['key'],
          additionalProperties: false,
        },
      ],
    },
  },
  keyHashes: {
    type: 'array',
    items: {
      type: 'object',
      properties: { id: { type: 'string' }, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
      required: ['id', 'sha256'],
    },
  },
  rate: RATE,
  listen: HOST_PORT,
  user: { type: ['string', 'null'] },
  maxConnections: { type: 'integer', minimum: 1 },
  targets: {
    type: 'array',
    minItems: 1,
    items: {
      oneOf: [HOST_PORT, {
        type: 'object',
        properties: { address: HOST_PORT, weight: { type: 'integer', minimum: 1 }, backup: { type: 'boolean' } },
        required: ['address'],
        additionalProperties: false,
      }],
    },
  },
  health: { type: ['object', 'boolean'] },
  strategy: { type: 'string' },
  targetBackoff: DURATION,
  connectTimeout: DURATION,
  idleTimeout: DURATION,
  halfCloseTimeout: DURATION,
  handshakeTimeout: DURATION,
  firstByteTimeout: DURATION,
  requestTimeout: DURATION,
  keepAliveTimeout: DURATION,
  sseKeepAlive: { oneOf: [{ const: false }, DURATION] },
  noDelay: { type: 'boolean' },
  keepAlive: { oneOf: [{ type: 'boolean' }, DURATION] },
  maxBodyBytes: SIZE,
  retries: { type: 'integer', minimum: 0 },
  channels: { type: 'array', items: { type: 'object' } },
  rules: { type: 'array', items: { type: 'object' } },
  routing: { type: 'string', enum: ['direct', 'upstream', 'bypass_cn', 'custom'] },
  upstream: { type: 'string' },
  allowDestinations: { type: 'array', items: { type: 'string' } },
  denyPrivate: { type: 'boolean' },
  allowOpen: { type: 'boolean' },
  proxyProtocol: { type: ['string', 'null'], enum: ['v1', 'v2', null] },
  acceptProxyProtocol: {
    type: 'object',
    properties: { from: { type: 'array', items: { type: 'string' }, minItems: 1 }, timeout: DURATION },
    required: ['from'],
    additionalProperties: false,
  },
  perIp: {
    type: 'object',
    properties: {
      maxConnections: { type: 'integer', minimum: 0 },
      connectRate: { type: 'number', minimum: 0 },
      rate: {
        oneOf: [{ type: 'number', minimum: 0 }, { type: 'string' }],
        description: 'forward/proxy: bytes per second per address (10MiB/s); gateway: requests per second',
      },
    },
    additionalProperties: false,
  },
};

function properties(keys: readonly string[], overrides: Record<string, Schema> = {}): Record<string, Schema> {
  const out: Record<string, Schema> = {};
  for (const key of keys) {
    out[key] = overrides[key] ?? VALUES[key] ?? { description: `see the configuration reference for "${key}"` };
  }
  return out;
}

const QUOTA: Schema = {
  type: 'object',
  properties: properties(QUOTA_KEYS, {
    bytes: SIZE,
    direction: { type: 'string', enum: ['total', 'in', 'out'] },
    period: { type: 'string', enum: ['none', 'daily', 'monthly'] },
    timezone: { type: 'string', examples: ['UTC'] },
  }),
  required: ['bytes'],
  additionalProperties: false,
};

export const USER_SCHEMA: Schema = {
  type: 'object',
  properties: properties(USER_KEYS, { quota: { oneOf: [QUOTA, { type: 'null' }] } }),
  required: ['id'],
  additionalProperties: false,
};

function serviceSchema(
  type: string, keys: readonly string[], required: string[], overrides: Record<string, Schema> = {},
): Schema {
  return {
    type: 'object',
    properties: properties([...BASE_KEYS, ...keys], { type: { const: type }, ...overrides }),
    required: ['name', 'type', 'listen', ...required],
    additionalProperties: false,
  };
}

export const SERVICE_SCHEMAS: Readonly<Record<'forward' | 'proxy' | 'gateway', Schema>> = {
  forward: serviceSchema('forward', [...TCP_KEYS, ...FORWARD_KEYS], ['targets'], {
    strategy: { type: 'string', enum: [...STRATEGIES] },
  }),
  proxy: serviceSchema('proxy', [...TCP_KEYS, ...PROXY_KEYS], []),
  gateway: serviceSchema('gateway', GATEWAY_KEYS, ['channels']),
};

export const SERVICE_SCHEMA: Schema = {
  oneOf: Object.values(SERVICE_SCHEMAS),
  discriminator: { propertyName: 'type' },
};

/** A PATCH body: any subset of the item's keys (RFC 7386 merge patch; `null` removes a key). */
export function patchSchema(schema: Schema): Schema {
  const { required: _required, ...rest } = schema;
  return rest;
}
