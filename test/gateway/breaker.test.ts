import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { channel, type Gateway, type UpstreamSpec, withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat } from '../helpers/llm.js';
import { eventually, sleep } from '../helpers/wait.js';

/** Two OpenAI channels under the priority strategy (`high` first), one retry, the given breaker settings. */
function priorityPair<H extends string, L extends string>(
  high: H, low: L, breaker: Record<string, unknown>,
): Gateway<H | L> {
  return withGateway({
    upstreams: { [high]: 'openai', [low]: 'openai' } as Record<H | L, UpstreamSpec>,
    gateway: (up) => ({
      strategy: 'priority',
      retries: 1,
      breaker,
      channels: [channel(up[high], { priority: 2 }), channel(up[low], { priority: 1 })],
    }),
  });
}

/**
 * How long a circuit stays open here: long enough that the asks after it opens (a retry, a request) see it open on a
 * loaded machine (300 ms was not: the tests read half-open), short enough to wait out.
 */
const OPEN_FOR_MS = 2_000;

describe('gateway: circuit breaker per channel', () => {
  const gw = priorityPair('p', 's', {
    consecutiveFailures: 2, openFor: `${OPEN_FOR_MS}ms`, halfOpenProbes: 1, minRequests: 1000,
  });
  const { p } = gw.up;
  /** Until the open window has passed (the breaker reads half-open once it has; time is checked lazily). */
  const halfOpen = () => eventually(() => gw.channel('p').breaker.state === 'half-open', 10_000, 'half-open');

  const ask = async () => {
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'));
    assert.equal(r.status, 200);
    return r.headers['x-tidegate-channel'];
  };

  it('closed → open after consecutive failures; an open channel gets no requests', async () => {
    assert.equal(await ask(), 'p');
    p.script.push({ kind: 'status', status: 500 }, { kind: 'status', status: 502 });
    assert.equal(await ask(), 's');
    assert.equal(gw.channel('p').breaker.state, 'closed');
    assert.equal(await ask(), 's');
    const b = gw.channel('p').breaker;
    assert.equal(b.state, 'open');
    assert.equal(b.lastFailure, 'HTTP 502');
    const before = p.requests.length;
    assert.equal(await ask(), 's');
    assert.equal(p.requests.length, before);
  });

  it('open → half-open after openFor; a successful probe closes it', async () => {
    await halfOpen();
    assert.equal(await ask(), 'p');
    assert.equal(gw.channel('p').breaker.state, 'closed');
  });

  it('half-open → open again when the probe fails', async () => {
    p.script.push({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
    await ask();
    await ask();
    const opened = gw.channel('p').breaker.timesOpened;
    assert.equal(gw.channel('p').breaker.state, 'open');
    await halfOpen();
    p.script.push({ kind: 'status', status: 503 });
    assert.equal(await ask(), 's');
    const b = gw.channel('p').breaker;
    assert.equal(b.state, 'open');
    assert.equal(b.timesOpened, opened + 1);
    await halfOpen();
    assert.equal(await ask(), 'p');
  });

  it('429 with Retry-After opens the circuit for at least that long', async () => {
    p.script.push({ kind: 'status', status: 429, retryAfter: '30' });
    assert.equal(await ask(), 's');
    const b = gw.channel('p').breaker;
    assert.equal(b.state, 'open');
    assert.ok(b.openForMs > 20_000, `open for ${b.openForMs} ms, expected about 30000`);
    await sleep(OPEN_FOR_MS + 100);
    // openFor has passed but Retry-After has not: still open.
    assert.equal(gw.channel('p').breaker.state, 'open');
    assert.equal(await ask(), 's');
  });

  it('GET /status (service detail) shows every channel\'s breaker state', () => {
    const detail = gw.detail<{ channels: { name: string; breaker: { state: string } }[] }>();
    assert.deepEqual(detail.channels.map((c) => [c.name, c.breaker.state]), [['p', 'open'], ['s', 'closed']]);
  });
});

describe('gateway: circuit breaker opens on the error ratio', () => {
  const gw = priorityPair('r', 'b', {
    consecutiveFailures: 100, errorRatio: 0.5, minRequests: 4, window: '1m', openFor: '1m',
  });
  const { r } = gw.up;

  it('opens once the window has minRequests and failures/requests ≥ errorRatio', async () => {
    r.script.push(
      { kind: 'status', status: 500 }, { kind: 'ok' }, { kind: 'status', status: 500 }, { kind: 'ok' },
      { kind: 'status', status: 500 },
    );
    for (let i = 0; i < 4; i++) await post(`${gw.url}/v1/chat/completions`, chat('m'));
    assert.equal(gw.channel('r').breaker.state, 'closed');
    await post(`${gw.url}/v1/chat/completions`, chat('m'));
    assert.equal(gw.channel('r').breaker.state, 'open');
    const n = r.requests.length;
    const res = await post(`${gw.url}/v1/chat/completions`, chat('m'));
    assert.equal(res.headers['x-tidegate-channel'], 'b');
    assert.equal(r.requests.length, n);
  });
});
