import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { startManaged, type Managed } from './managed.js';

describe('GET /openapi.json', () => {
  let tg: Managed;
  before(async () => {
    tg = await startManaged({});
  });
  after(() => tg.stop());

  it('is a valid OpenAPI 3.1 document covering every route the server dispatches', async () => {
    const answer = await tg.api('GET', '/openapi.json');
    assert.equal(answer.status, 200);
    const doc = answer.body as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.equal(doc.openapi, '3.1.0');
    // Validation works on a copy: it dereferences in place.
    await SwaggerParser.validate(structuredClone(doc) as never);

    const routes = (tg.runtime as unknown as { routes(): { method: string; path: string }[] }).routes();
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    const served = new Set(routes.map((r) => `${r.method} ${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`));
    assert.deepEqual([...documented].sort(), [...served].sort());
    for (const must of [
      'GET /users', 'POST /users', 'PATCH /users/{id}', 'DELETE /users/{id}/keys/{keyId}', 'POST /services',
      'GET /requests', 'GET /usage/summary', 'GET /events', 'GET /config', 'GET /openapi.json',
      'POST /users/{id}/usage/reset', 'GET /report',
    ]) {
      assert.ok(served.has(must), must);
    }
    // Every answer a route can give is described; bodies of changes have schemas from the config readers.
    type Body = { content: Record<string, { schema: { properties: Record<string, unknown> } }> };
    const post = doc.paths['/users']!.post as { requestBody: Body; responses: Record<string, unknown> };
    assert.ok('quota' in post.requestBody.content['application/json']!.schema.properties);
    assert.ok('enabled' in post.requestBody.content['application/json']!.schema.properties);
    for (const status of ['201', '403', '409', '422']) assert.ok(status in post.responses, status);
    const patch = doc.paths['/services/{name}']!.patch as { responses: Record<string, unknown> };
    assert.ok('412' in patch.responses);
  });
});
