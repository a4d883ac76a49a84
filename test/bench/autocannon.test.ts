import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { runHttpLoad } from '../../bench/lib/autocannon.js';
import { startNaiveProxy } from '../../bench/lib/baselines.js';
import { listenHttp, type TestHttpServer } from '../helpers/listen.js';

/** An HTTP upstream that records `x-routed-model|body` of each request and answers 500 on /fail. */
async function startUpstream(): Promise<TestHttpServer & { bodies: string[] }> {
  const bodies: string[] = [];
  const server = await listenHttp((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      bodies.push(`${req.headers['x-routed-model'] ?? ''}|${body}`);
      res.writeHead(req.url === '/fail' ? 500 : 200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  return Object.assign(server, { bodies });
}

function post(port: number, path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'application/json' } };
    const req = httpRequest(options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('the naive proxy parses the body, routes on model and streams the upstream answer back', async () => {
  const upstream = await startUpstream();
  const proxy = await startNaiveProxy(`http://127.0.0.1:${upstream.port}`);
  try {
    const answer = await post(proxy.ports[0] as number, '/v1/chat/completions', '{"model":"gpt-4o","messages":[]}');
    assert.deepEqual(answer, { status: 200, body: '{"ok":true}' });
    assert.deepEqual(upstream.bodies, ['gpt-4o|{"model":"gpt-4o","messages":[]}']);
    const bad = await post(proxy.ports[0] as number, '/v1/chat/completions', '{not json');
    assert.equal(bad.status, 502);
  } finally {
    await proxy.stop();
    await upstream.close();
  }
});

test('runHttpLoad reports requests, latency percentiles and non-2xx answers', async () => {
  const upstream = await startUpstream();
  try {
    const ok = await runHttpLoad({ url: `http://127.0.0.1:${upstream.port}/ok`, connections: 2, duration: 1, method: 'POST', body: '{}' });
    assert.ok(ok.requests > 0);
    assert.ok(ok.reqPerSec > 0);
    assert.ok(ok.p50 <= ok.p99);
    assert.equal(ok.non2xx, 0);
    const failing = await runHttpLoad({ url: `http://127.0.0.1:${upstream.port}/fail`, connections: 1, duration: 1 });
    assert.ok(failing.non2xx > 0);
    assert.equal(failing.non2xx, failing.requests);
  } finally {
    await upstream.close();
  }
});
