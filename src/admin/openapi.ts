import type { AdminRoute, JsonSchema } from './server.js';

/** `{ error: { code, message, issues? } }`, every error reply's body. */
export const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string', description: 'a stable error code (see the README)' },
        message: { type: 'string' },
        issues: {
          type: 'array',
          items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
        },
      },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
};

const REASONS: Record<number, string> = {
  200: 'OK', 201: 'Created', 400: 'Bad request', 401: 'Missing or wrong bearer token', 403: 'The token may only read',
  404: 'Not found', 405: 'Method not allowed', 409: 'Conflict', 412: 'If-Match names an old version',
  413: 'Body too large',
  422: 'Invalid item: every issue with its path', 500: 'Internal error',
};

/**
 * The OpenAPI 3.1 document of the admin API, generated from the route table the server dispatches on (paths,
 * methods, bodies, queries and replies as each route declares them), so it cannot drift from what runs.
 */
export function openApiDocument(routes: readonly AdminRoute[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const item = (paths[path] ??= {});
    item[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'tidegate admin API', version },
    servers: [{ url: 'http://127.0.0.1:9090' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: ERROR_SCHEMA },
    },
    security: [{ bearer: [] }],
    paths,
  };
}

function operation(route: AdminRoute): Record<string, unknown> {
  const doc = route.doc;
  const parameters: Record<string, unknown>[] = [];
  for (const m of route.path.matchAll(/:([A-Za-z]+)/g)) {
    parameters.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
  }
  for (const [name, schema] of Object.entries(doc?.query ?? {})) {
    parameters.push({ name, in: 'query', required: false, schema });
  }
  if (route.method === 'PATCH' || route.method === 'DELETE') {
    parameters.push({
      name: 'If-Match', in: 'header', required: false, schema: { type: 'string' },
      description: 'the ETag of the version being changed',
    });
  }
  const responses: Record<string, unknown> = {};
  const ok = doc?.response ?? { status: 200, schema: {} };
  responses[String(ok.status)] = ok.schema === null
    ? { description: REASONS[ok.status] ?? 'OK' }
    : {
        description: REASONS[ok.status] ?? 'OK',
        content: { [ok.contentType ?? 'application/json']: { schema: ok.schema } },
      };
  const errors = new Set([400, 401, 404, 405, 500, ...(doc?.errors ?? [])]);
  if (route.method !== 'GET') errors.add(403);
  if (route.body === true) errors.add(413);
  for (const status of [...errors].sort()) {
    responses[String(status)] = {
      description: REASONS[status] ?? 'Error',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  const op: Record<string, unknown> = {
    operationId: operationId(route),
    summary: doc?.summary ?? `${route.method} ${route.path}`,
    parameters,
    responses,
  };
  if (route.body === true) {
    const schema = doc?.requestBody ?? { type: 'object' };
    op.requestBody = { required: true, content: { 'application/json': { schema } } };
  }
  return op;
}

/** `POST /users/:id/keys` → `postUsersIdKeys`. */
function operationId(route: AdminRoute): string {
  const words = route.path.replace(/[/:]+([a-zA-Z])/g, (_m, c: string) => c.toUpperCase()).replace(/[^A-Za-z0-9]/g, '');
  return `${route.method.toLowerCase()}${words}`;
}
