import type { IncomingMessage } from 'node:http';
import type { EventHub } from '../admin/events.js';
import type { StatsStream } from '../admin/stats-stream.js';
import { openApiDocument } from '../admin/openapi.js';
import type { AdminReply, AdminRoute, JsonSchema } from '../admin/server.js';
import { errorBody, requestRole } from '../admin/server.js';
import { patchSchema, SERVICE_SCHEMA, USER_SCHEMA } from '../config/json-schema.js';
import {
  AdminBadRequestError, AdminNotFoundError, ConfigError, ConfigReadError, ReloadBusyError, TidegateError,
} from '../errors.js';
import type { Accounting } from '../accounting/accounting.js';
import { decodeCursor, GROUP_BY, type GroupBy, type RequestFilter } from '../store/request-query.js';
import type { RequestReader } from '../store/request-reader.js';
import { VERSION } from '../version.js';
import type { Versioned } from './management/items.js';
import type { Management } from './management/management.js';
import { DEFAULT_PAGE, MAX_PAGE, pageParams } from './management/paging.js';

/** What the admin endpoints read and do. The Runtime is one; the routes never see the class (no import circle). */
export interface AdminSubject {
  status(): { readonly services: readonly unknown[] };
  caches(): unknown;
  reloadFromSource(): Promise<unknown>;
  readonly accounting: Pick<Accounting, 'syncStatus' | 'usage' | 'metrics'>;
  readonly management: Management;
  readonly events: EventHub;
  readonly stats: StatsStream;
  reportStatus(): unknown;
  /** Gateway limit windows of a user and its keys per service (empty: none). */
  limitStatus(user: string): Record<string, unknown>;
  /** The request log's reader (off the event loop); null without a SQLite store. */
  readonly requestQuery: RequestReader | null;
}

const OBJECT: JsonSchema = { type: 'object' };
const STRING: JsonSchema = { type: 'string' };
const PAGE_QUERY = {
  limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: DEFAULT_PAGE },
  cursor: { type: 'string', description: 'nextCursor of the previous page' },
};
const USER_ITEM: JsonSchema = {
  type: 'object',
  properties: {
    id: STRING,
    origin: { enum: ['file', 'api'] },
    config: OBJECT,
    issuedKeys: { type: 'array', items: { type: 'object', properties: { id: STRING, createdAt: STRING } } },
  },
  required: ['id', 'origin', 'config', 'issuedKeys'],
};
const SERVICE_ITEM: JsonSchema = {
  type: 'object',
  properties: {
    name: STRING, type: STRING, origin: { enum: ['file', 'api'] }, config: OBJECT, status: { type: ['object', 'null'] },
  },
  required: ['name', 'type', 'origin', 'config', 'status'],
};
function pageOf(item: JsonSchema): JsonSchema {
  return {
    type: 'object',
    properties: { items: { type: 'array', items: item }, nextCursor: { type: ['string', 'null'] } },
    required: ['items', 'nextCursor'],
  };
}
const REQUEST_FILTERS: Record<string, JsonSchema> = {
  user: STRING, service: STRING, channel: STRING, model: STRING, status: { type: 'integer' },
  since: { type: 'string', description: 'ISO time or epoch ms, inclusive' },
  until: { type: 'string', description: 'ISO time or epoch ms, exclusive' },
};

/** The admin endpoints: each a thin call into the runtime or its management; the OpenAPI document comes from here. */
export function adminRoutes(runtime: AdminSubject): AdminRoute[] {
  const m = runtime.management;
  const routes: AdminRoute[] = [
    {
      method: 'GET', path: '/status', doc: { summary: 'Version, uptime, reloads, pool and every service' },
      handle: () => ({ status: 200, body: runtime.status() }),
    },
    {
      method: 'GET',
      path: '/services',
      doc: {
        summary: 'Without limit or cursor: the services array of /status; with either: a page of service items',
        query: PAGE_QUERY,
        response: { status: 200, schema: { oneOf: [{ type: 'array' }, pageOf(SERVICE_ITEM)] } },
      },
      handle(_params, req) {
        const q = query(req);
        if (!q.has('limit') && !q.has('cursor')) return { status: 200, body: runtime.status().services };
        const { limit, cursor } = pageParams(q);
        return { status: 200, body: m.listServices(limit, cursor) };
      },
    },
    {
      method: 'GET', path: '/sync', doc: { summary: 'Ledger sync settings and stats' },
      handle: () => ({ status: 200, body: runtime.accounting.syncStatus() }),
    },
    {
      method: 'GET',
      path: '/users/:id/usage',
      doc: {
        summary: "A user's live, durable and pending counters, quota, gateway spend and budgets, limit windows",
      },
      handle(params) {
        const usage = runtime.accounting.usage(params.id!);
        if (usage === null) throw new AdminNotFoundError(`no user "${params.id}" in the config`);
        return { status: 200, body: { ...usage, limits: runtime.limitStatus(params.id!) } };
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      doc: { summary: 'Prometheus metrics', response: { status: 200, schema: STRING, contentType: 'text/plain' } },
      async handle() {
        const registry = runtime.accounting.metrics;
        return { status: 200, body: await registry.metrics(), contentType: registry.contentType };
      },
    },
    {
      method: 'GET', path: '/cache', doc: { summary: 'Cache sizes and hit rates' },
      handle: () => ({ status: 200, body: runtime.caches() }),
    },
    {
      method: 'POST',
      path: '/reload',
      doc: { summary: 'Re-reads the config file (plus the API overlay) and applies it', errors: [409, 422] },
      async handle() {
        try {
          // Applied, maybe in part: `ok` and `failed` tell which (a port in use is not a server error).
          const result = await runtime.reloadFromSource();
          return { status: 200, body: result };
        } catch (err) {
          if (err instanceof ConfigError) {
            return { status: 422, body: errorBody(err.code, err.message, { issues: err.issues }) };
          }
          if (err instanceof ConfigReadError) return { status: 422, body: errorBody(err.code, err.message) };
          if (err instanceof ReloadBusyError) return { status: 409, body: errorBody(err.code, err.message) };
          if (err instanceof TidegateError) return { status: 400, body: errorBody(err.code, err.message) };
          throw err;
        }
      },
    },
    {
      method: 'GET',
      path: '/config',
      doc: { summary: 'The effective config (secrets redacted), each user and service with its origin, and conflicts' },
      handle: () => ({ status: 200, body: m.configView() }),
    },
    {
      method: 'GET',
      path: '/users',
      doc: {
        summary: 'A page of users (file and API), by id', query: PAGE_QUERY,
        response: { status: 200, schema: pageOf(USER_ITEM) },
      },
      handle(_params, req) {
        const { limit, cursor } = pageParams(query(req));
        return { status: 200, body: m.listUsers(limit, cursor) };
      },
    },
    {
      method: 'POST',
      path: '/users',
      body: true,
      doc: {
        summary: 'Adds a user (config-file syntax)', requestBody: USER_SCHEMA,
        response: { status: 201, schema: USER_ITEM }, errors: [409, 422],
      },
      async handle(_params, _req, body) {
        return created(await m.createUser(body!), `/users/${encodeURIComponent(String(body!.id))}`);
      },
    },
    {
      method: 'GET',
      path: '/users/:id',
      doc: { summary: 'One user, with its ETag', response: { status: 200, schema: USER_ITEM } },
      handle: (params) => item(m.getUser(params.id!)),
    },
    {
      method: 'PATCH',
      path: '/users/:id',
      body: true,
      doc: {
        summary: 'Changes an API user (JSON merge patch; null removes a key)', requestBody: patchSchema(USER_SCHEMA),
        response: { status: 200, schema: USER_ITEM }, errors: [409, 412, 422],
      },
      async handle(params, req, body) {
        return item(await m.patchUser(params.id!, body!, ifMatch(req)));
      },
    },
    {
      method: 'DELETE',
      path: '/users/:id',
      doc: {
        summary: 'Removes an API user and its issued keys; its live connections are closed (user_removed)',
        response: {
          status: 200, schema: { type: 'object', properties: { deleted: STRING, closed: { type: 'integer' } } },
        },
        errors: [409, 412, 422],
      },
      async handle(params, req) {
        const { closed } = await m.deleteUser(params.id!, ifMatch(req));
        return { status: 200, body: { deleted: params.id, closed } };
      },
    },
    {
      method: 'POST',
      path: '/users/:id/keys',
      body: true,
      doc: {
        summary: 'Issues a gateway key: returned once, only its SHA-256 is kept',
        requestBody: {
          type: 'object',
          properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
          additionalProperties: false,
        },
        response: {
          status: 201,
          schema: {
            type: 'object',
            properties: { id: STRING, user: STRING, key: STRING, createdAt: STRING },
            required: ['id', 'user', 'key'],
          },
        },
        errors: [409, 422],
      },
      async handle(params, _req, body) {
        return { status: 201, body: await m.addKey(params.id!, body!) };
      },
    },
    {
      method: 'DELETE',
      path: '/users/:id/keys/:keyId',
      doc: { summary: 'Revokes an issued key', response: { status: 200, schema: OBJECT }, errors: [409, 422] },
      async handle(params) {
        await m.deleteKey(params.id!, params.keyId!);
        return { status: 200, body: { deleted: params.keyId, user: params.id } };
      },
    },
    {
      method: 'POST',
      path: '/users/:id/usage/reset',
      doc: {
        summary: "Starts the user's current quota period again from zero", response: { status: 200, schema: OBJECT },
      },
      async handle(params) {
        await m.resetUsage(params.id!);
        return { status: 200, body: runtime.accounting.usage(params.id!) };
      },
    },
    {
      method: 'POST',
      path: '/services',
      body: true,
      doc: {
        summary: 'Adds a service of any type; listen "<host>:auto" takes a free port of its user\'s ports '
          + 'or else of admin.portRange',
        requestBody: SERVICE_SCHEMA, response: { status: 201, schema: SERVICE_ITEM }, errors: [409, 422],
      },
      async handle(_params, _req, body) {
        return created(await m.createService(body!), `/services/${encodeURIComponent(String(body!.name))}`);
      },
    },
    {
      method: 'GET',
      path: '/services/:name',
      doc: {
        summary: 'One service: config, origin and status, with its ETag',
        response: { status: 200, schema: SERVICE_ITEM },
      },
      handle: (params) => item(m.getService(params.name!)),
    },
    {
      method: 'PATCH',
      path: '/services/:name',
      body: true,
      doc: {
        summary: 'Changes an API service (JSON merge patch), applied like a reload',
        requestBody: patchSchema({ type: 'object' }),
        response: { status: 200, schema: SERVICE_ITEM }, errors: [409, 412, 422],
      },
      async handle(params, req, body) {
        return item(await m.patchService(params.name!, body!, ifMatch(req)));
      },
    },
    {
      method: 'DELETE',
      path: '/services/:name',
      doc: {
        summary: 'Removes an API service (its connections drain)', response: { status: 200, schema: OBJECT },
        errors: [409, 412, 422],
      },
      async handle(params, req) {
        await m.deleteService(params.name!, ifMatch(req));
        return { status: 200, body: { deleted: params.name } };
      },
    },
    {
      method: 'GET',
      path: '/requests',
      doc: {
        summary: 'The request log, newest first, filtered, with cursor pagination',
        query: { ...REQUEST_FILTERS, ...PAGE_QUERY },
        response: { status: 200, schema: pageOf(OBJECT) },
        errors: [409],
      },
      async handle(_params, req) {
        const q = query(req);
        const { limit } = pageParams(q);
        const raw = q.get('cursor');
        const cursor = raw === null ? null : decodeCursor(raw);
        if (raw !== null && cursor === null) throw new AdminBadRequestError('cursor is not one this endpoint gave out');
        return { status: 200, body: await requests(runtime).page(filterOf(q), limit, cursor) };
      },
    },
    {
      method: 'GET',
      path: '/usage/summary',
      doc: {
        summary: 'Request-log totals grouped by user, service, channel, model or day',
        query: { groupBy: { enum: [...GROUP_BY] }, since: REQUEST_FILTERS.since!, until: REQUEST_FILTERS.until! },
        response: { status: 200, schema: { type: 'object', properties: { groupBy: STRING, rows: { type: 'array' } } } },
        errors: [409],
      },
      async handle(_params, req) {
        const q = query(req);
        const groupBy = (q.get('groupBy') ?? 'user') as GroupBy;
        if (!GROUP_BY.includes(groupBy)) {
          throw new AdminBadRequestError(`groupBy must be one of ${GROUP_BY.join(', ')}`);
        }
        const filter = filterOf(q);
        const window = { since: filter.since ?? null, until: filter.until ?? null };
        const rows = await requests(runtime).summary(groupBy, filter);
        return { status: 200, body: { groupBy, ...window, rows } };
      },
    },
    {
      method: 'GET',
      path: '/report',
      doc: {
        summary: 'Pushed reports: receiver, last acknowledged sequence, failures, unacknowledged batches '
          + '(null when off)',
      },
      handle: () => ({ status: 200, body: runtime.reportStatus() }),
    },
    {
      method: 'GET',
      path: '/events',
      doc: {
        summary: 'Server-sent events: reload, service, target, quota, user, key',
        response: { status: 200, schema: STRING, contentType: 'text/event-stream' },
      },
      handle: () => ({ status: 200, body: null, stream: (res) => runtime.events.subscribe(res) }),
    },
    {
      method: 'GET',
      path: '/session',
      doc: {
        summary: "The caller's token role (the dashboard hides mutating controls from a read token) and the version",
        response: {
          status: 200,
          schema: {
            type: 'object', properties: { role: { enum: ['read', 'write'] }, version: STRING }, required: ['role'],
          },
        },
      },
      handle: (_params, req) => ({ status: 200, body: { role: requestRole(req), version: VERSION } }),
    },
    {
      method: 'GET',
      path: '/stats/stream',
      doc: {
        summary: 'Server-sent events for the dashboard: a "history" frame (the samples kept, at most 15 minutes), '
          + 'then a "stats" frame a second ({ sample: { t, services: { name: [live, bytesIn, bytesOut, requests] } }, '
          + 'detail: the /status body }); runs only while someone listens',
        response: { status: 200, schema: STRING, contentType: 'text/event-stream' },
      },
      handle: () => ({ status: 200, body: null, stream: (res) => runtime.stats.subscribe(res) }),
    },
  ];
  const openapi: AdminRoute = {
    method: 'GET',
    path: '/openapi.json',
    doc: { summary: 'This document' },
    handle: () => ({ status: 200, body: openApiDocument(routes, VERSION) }),
  };
  routes.push(openapi);
  return routes;
}

function query(req: IncomingMessage): URLSearchParams {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
}

function ifMatch(req: IncomingMessage): string | undefined {
  const h = req.headers['if-match'];
  return typeof h === 'string' ? h : undefined;
}

function item<T>(v: Versioned<T>): AdminReply {
  return { status: 200, body: v.item, headers: { etag: v.etag } };
}

function created<T>(v: Versioned<T>, location: string): AdminReply {
  return { status: 201, body: v.item, headers: { etag: v.etag, location } };
}

function requests(runtime: AdminSubject): RequestReader {
  if (runtime.requestQuery === null) throw new AdminBadRequestError('there is no request log (store.sqlite is off)');
  return runtime.requestQuery;
}

function filterOf(q: URLSearchParams): RequestFilter {
  const filter: { -readonly [K in keyof RequestFilter]: RequestFilter[K] } = {};
  for (const key of ['user', 'service', 'channel', 'model'] as const) {
    const v = q.get(key);
    if (v !== null) filter[key] = v;
  }
  const status = q.get('status');
  if (status !== null) {
    const n = Number(status);
    if (!Number.isInteger(n) || n < 0 || n > 999) {
      throw new AdminBadRequestError(`status must be an HTTP status, got "${status}"`);
    }
    filter.status = n;
  }
  const since = q.get('since');
  if (since !== null) filter.since = time('since', since);
  const until = q.get('until');
  if (until !== null) filter.until = time('until', until);
  return filter;
}

function time(name: string, text: string): number {
  const t = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(t)) {
    throw new AdminBadRequestError(`${name} must be an ISO time or epoch milliseconds, got "${text.slice(0, 60)}"`);
  }
  return t;
}
