import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MockUpstream, sleep } from '../fixtures/llm-upstream.js';
import { channelDetail, chat, post, startGateway, type StartedGateway } from './helpers.js';

describe('gateway: circuit breaker per channel', () => {
  let p: MockUpstream;
  let s: MockUpstream;
  let gw: StartedGateway;
  before(async () => {
    p = await MockUpstream.start({ dialect: 'openai', name: 'p' });
    s = await MockUpstream.start({ dialect: 'openai', name: 's' });
    gw = await startGateway({
      strategy: 'priority',
      retries: 1,
      breaker: { consecutiveFailures: 2, openFor: '300ms', halfOpenProbes: 1, minRequests: 1000 },
      channels: [
        { name: 'p', kind: 'openai', baseUrl: p.baseUrl, keys: ['k'], priority: 2 },
        { name: 's', kind: 'openai', baseUrl: s.baseUrl, keys: ['k'], priority: 1 },
      ],
    });
  });
  after(async () => {
    await gw.close();
    await p.close();
    await s.close();
  });

  const ask = async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'));
    assert.equal(r.status, 200);
    return r.headers['x-tidegate-channel'];
  };

  it('closed → open after consecutive failures; an open channel gets no requests', async () => {
    assert.equal(await ask(), 'p');
    p.script.push({ kind: 'status', status: 500 }, { kind: 'status', status: 502 });
    assert.equal(await ask(), 's');
    assert.equal(channelDetail(gw, 'p').breaker.state, 'closed');
    assert.equal(await ask(), 's');
    const b = channelDetail(gw, 'p').breaker;
    assert.equal(b.state, 'open');
    assert.equal(b.lastFailure, 'HTTP 502');
    const before = p.requests.length;
    assert.equal(await ask(), 's');
    assert.equal(p.requests.length, before);
  });

  it('open → half-open after openFor; a successful probe closes it', async () => {
    await sleep(350);
    assert.equal(channelDetail(gw, 'p').breaker.state, 'half-open');
    assert.equal(await ask(), 'p');
    assert.equal(channelDetail(gw, 'p').breaker.state, 'closed');
  });

  it('half-open → open again when the probe fails', async () => {
    p.script.push({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
    await ask();
    await ask();
    const opened = channelDetail(gw, 'p').breaker.timesOpened;
    assert.equal(channelDetail(gw, 'p').breaker.state, 'open');
    await sleep(350);
    p.script.push({ kind: 'status', status: 503 });
    assert.equal(await ask(), 's');
    const b = channelDetail(gw, 'p').breaker;
    assert.equal(b.state, 'open');
    assert.equal(b.timesOpened, opened + 1);
    await sleep(350);
    assert.equal(await ask(), 'p');
  });

  it('429 with Retry-After opens the circuit for at least that long', async () => {
    p.script.push({ kind: 'status', status: 429, retryAfter: '3' });
    assert.equal(await ask(), 's');
    const b = channelDetail(gw, 'p').breaker;
    assert.equal(b.state, 'open');
    assert.ok(b.openForMs > 2000, `open for ${b.openForMs} ms, expected about 3000`);
    await sleep(350);
    // openFor (300 ms) has passed but Retry-After has not: still open.
    assert.equal(channelDetail(gw, 'p').breaker.state, 'open');
    assert.equal(await ask(), 's');
  });

  it('GET /status (service detail) shows every channel\'s breaker state', () => {
    const detail = gw.runtime.status().services[0]!.detail as { channels: { name: string; breaker: { state: string } }[] };
    assert.deepEqual(detail.channels.map((c) => [c.name, c.breaker.state]), [['p', 'open'], ['s', 'closed']]);
  });
});

describe('gateway: circuit breaker opens on the error ratio', () => {
  let r: MockUpstream;
  let b: MockUpstream;
  let gw: StartedGateway;
  before(async () => {
    r = await MockUpstream.start({ dialect: 'openai', name: 'r' });
    b = await MockUpstream.start({ dialect: 'openai', name: 'b' });
    gw = await startGateway({
      strategy: 'priority',
      retries: 1,
      breaker: { consecutiveFailures: 100, errorRatio: 0.5, minRequests: 4, window: '1m', openFor: '1m' },
      channels: [
        { name: 'r', kind: 'openai', baseUrl: r.baseUrl, keys: ['k'], priority: 2 },
        { name: 'b', kind: 'openai', baseUrl: b.baseUrl, keys: ['k'], priority: 1 },
      ],
    });
  });
  after(async () => {
    await gw.close();
    await r.close();
    await b.close();
  });

  it('opens once the window has minRequests and failures/requests ≥ errorRatio', async () => {
    r.script.push({ kind: 'status', status: 500 }, { kind: 'ok' }, { kind: 'status', status: 500 }, { kind: 'ok' }, { kind: 'status', status: 500 });
    for (let i = 0; i < 4; i++) await post(`${gw.url}/v1/chat/completions`, chat('m'));
    assert.equal(channelDetail(gw, 'r').breaker.state, 'closed');
    await post(`${gw.url}/v1/chat/completions`, chat('m'));
    assert.equal(channelDetail(gw, 'r').breaker.state, 'open');
    const n = r.requests.length;
    const res = await post(`${gw.url}/v1/chat/completions`, chat('m'));
    assert.equal(res.headers['x-tidegate-channel'], 'b');
    assert.equal(r.requests.length, n);
  });
});
