import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { totalmem } from 'node:os';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { channel, type GatewayView, oneChannel, startGateway, withGateway } from '../helpers/gateway.js';
import { chat } from '../helpers/llm.js';
import { RawClient } from '../helpers/raw-client.js';
import { eventually } from '../helpers/wait.js';

const KiB = 1024;

interface BudgetSnapshot { limit: number; used: number; peak: number; refused: number; timedOut: number }

function budget(gw: GatewayView): BudgetSnapshot {
  return gw.detail<{ bodyBudget: BudgetSnapshot }>().bodyBudget;
}

function head(length: number | 'chunked'): string {
  return `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n${
    length === 'chunked' ? 'transfer-encoding: chunked' : `content-length: ${length}`}\r\n\r\n`;
}

/** A chat body of exactly `bytes` bytes (padded in a field the gateway passes on). */
function paddedBody(bytes: number): Buffer {
  const base = JSON.stringify(chat('gpt-4o', { pad: '' }));
  return Buffer.from(base.replace('"pad":""', `"pad":"${'x'.repeat(bytes - base.length)}"`));
}

function chunk(bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);
}

describe('gateway: the process-wide body budget (gateway.bodyBudget)', () => {
  const gw = withGateway({ ...oneChannel, limits: { bodyBudget: '1MiB', bodyTimeout: '20s' } });

  it('a declared body beyond what is left gets 503 + Retry-After before it is read; '
    + 'held bodies still complete', async () => {
    const body = paddedBody(300 * KiB);
    const holders: RawClient[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await RawClient.open(gw.url);
      c.send(head(body.length));
      c.send(body.subarray(0, 1000));
      holders.push(c);
    }
    await eventually(() => budget(gw).used === 3 * body.length, 5000, 'three bodies charged');
    const late = await RawClient.open(gw.url);
    late.send(head(body.length));
    const refused = await late.read();
    assert.equal(refused.status, 503);
    assert.equal(JSON.parse(refused.body).error.code, 'TG_ERR_BODY_BUDGET');
    assert.ok(await late.closedWithin(5000), 'the refused connection closes');
    for (const c of holders) c.send(body.subarray(1000));
    for (const c of holders) assert.equal((await c.read()).status, 200);
    for (const c of holders) c.socket.destroy();
    await eventually(() => budget(gw).used === 0, 5000, 'the budget to be given back');
    assert.ok(budget(gw).refused >= 1);
  });

  it('the 503 carries Retry-After and the JSON error of the endpoint dialect', async () => {
    const body = paddedBody(900 * KiB);
    const holder = await RawClient.open(gw.url);
    holder.send(head(body.length));
    await eventually(() => budget(gw).used === body.length, 5000, 'the body charged');
    const c = await RawClient.open(gw.url);
    const raw: Buffer[] = [];
    c.socket.on('data', (d: Buffer) => raw.push(d));
    c.send(head(200 * KiB));
    assert.equal((await c.read()).status, 503);
    assert.match(Buffer.concat(raw).toString('latin1'), /\r\nretry-after: \d+\r\n/i);
    holder.socket.destroy();
    c.socket.destroy();
    await eventually(() => budget(gw).used === 0, 5000, 'the budget to be given back');
  });

  it('a chunked body is charged as it grows and refused when the budget runs out', async () => {
    const held = paddedBody(800 * KiB);
    const holder = await RawClient.open(gw.url);
    holder.send(head(held.length));
    await eventually(() => budget(gw).used === held.length, 5000, 'the held body charged');
    const c = await RawClient.open(gw.url);
    c.send(head('chunked'));
    const piece = Buffer.alloc(64 * KiB, 0x20);
    for (let i = 0; i < 3; i++) c.send(chunk(piece));
    await eventually(() => budget(gw).used === held.length + 3 * piece.length, 5000, 'three chunks charged');
    for (let i = 0; i < 4; i++) c.send(chunk(piece));
    const answer = await c.read();
    assert.equal(answer.status, 503);
    assert.equal(JSON.parse(answer.body).error.code, 'TG_ERR_BODY_BUDGET');
    await eventually(() => budget(gw).used === held.length, 5000, 'the refused chunks given back');
    holder.socket.destroy();
    c.socket.destroy();
    await eventually(() => budget(gw).used === 0, 5000, 'the budget to be given back');
  });

  it('a streamed answer gives its body charge back once it has started (no failover can need the body)', async () => {
    const g = await startGateway({
      upstreams: { slow: { dialect: 'openai', chunkDelayMs: 300, pieces: ['a', 'b', 'c', 'd'] } },
      gateway: ({ slow }) => ({ channels: [channel(slow)] }),
      limits: { bodyBudget: '1MiB' },
    });
    try {
      const body = paddedBody(100 * KiB);
      const res = await fetch(`${g.url}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: body.toString().replace('"messages"', '"stream":true,"messages"'),
      });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      await reader.read();
      assert.equal(budget(g).used, 0, 'nothing held while the answer streams');
      assert.equal(budget(g).peak >= body.length, true);
      while (!(await reader.read()).done) { /* drain */ }
    } finally {
      await g.close();
    }
  });

  it('every exit gives the charge back exactly once: done, aborted, 413 mid-body, bad JSON', async () => {
    // done
    const ok = await RawClient.open(gw.url);
    assert.equal((await ok.chat('gpt-4o')).status, 200);
    // aborted halfway
    const gone = await RawClient.open(gw.url);
    gone.send(head(100 * KiB) + 'x'.repeat(1000));
    await eventually(() => budget(gw).used === 100 * KiB, 5000, 'the aborted body charged');
    gone.socket.destroy();
    await eventually(() => budget(gw).used === 0, 5000, 'the aborted body given back');
    // bad JSON (the error comes after the whole body)
    const bad = '{"model":'.padEnd(5000, ' ');
    ok.send(head(bad.length) + bad);
    assert.equal((await ok.read()).status, 400);
    assert.equal(budget(gw).used, 0);
    ok.socket.destroy();
    await eventually(() => budget(gw).used === 0, 5000, 'nothing held');
    assert.equal(budget(gw).used, 0);
  });
});

describe('gateway: 150 clients holding almost-complete 10 MiB bodies', () => {
  const gw = withGateway({
    ...oneChannel,
    gateway: ({ up }) => ({ channels: [channel(up, { models: ['gpt-*'] })], maxConnections: 1000 }),
    limits: { bodyBudget: '64MiB' },
  });

  it('at most budget / 10 MiB of them are admitted, the rest get 503, '
    + 'and the budget returns to 0 when they leave', async () => {
    const declared = 10 * 1024 * 1024 - 1024;
    const clients: RawClient[] = [];
    const statuses: Promise<number>[] = [];
    let answered503 = 0;
    for (let i = 0; i < 150; i++) {
      const c = await RawClient.open(gw.url);
      c.send(head(declared));
      c.send(Buffer.alloc(16 * KiB, 0x20));
      clients.push(c);
      statuses.push(c.read().then((a) => {
        if (a.status === 503) answered503++;
        return a.status;
      }, () => -1));
    }
    await eventually(() => budget(gw).refused >= 144, 20_000, '144 refusals');
    // Every refused client reads its answer before the sockets are cut (a 503 still in flight would read as -1).
    await eventually(() => answered503 >= 144, 20_000, '144 answers read');
    const snapshot = budget(gw);
    assert.ok(snapshot.used <= snapshot.limit, `used ${snapshot.used} within ${snapshot.limit}`);
    assert.equal(snapshot.used, 6 * declared, 'six bodies fit in 64 MiB');
    for (const c of clients) c.socket.destroy();
    const answered = await Promise.all(statuses);
    assert.equal(answered.filter((s) => s === 503).length, 144);
    await eventually(() => budget(gw).used === 0, 10_000, 'the budget to return to 0');
    await eventually(() => gw.detail<{ requests: { live: number } }>().requests.live === 0, 10_000, 'no live requests');
  });
});

describe('gateway: bodyTimeout', () => {
  const gw = withGateway({ ...oneChannel, limits: { bodyTimeout: '300ms' } });
  const { up } = gw.up;

  it('a body that stops arriving ends with 408 JSON, the connection closes and the charge is given back', async () => {
    const c = await RawClient.open(gw.url);
    c.send(head(50_000) + '{"model":"gpt-4o",');
    const answer = await c.read();
    assert.equal(answer.status, 408);
    assert.equal(JSON.parse(answer.body).error.code, 'TG_ERR_BODY_TIMEOUT');
    assert.ok(await c.closedWithin(5000), 'the connection closes');
    assert.equal(budget(gw).used, 0);
    assert.ok(budget(gw).timedOut >= 1);
    assert.equal(up.requests.length, 0, 'nothing reached the upstream');
  });

  it('a chunked body that trickles is cut by the same deadline', async () => {
    const c = await RawClient.open(gw.url);
    c.send(head('chunked'));
    const timer = setInterval(() => { if (!c.socket.destroyed) c.send(chunk(Buffer.from(' '))); }, 50);
    try {
      const answer = await c.read();
      assert.equal(answer.status, 408);
    } finally {
      clearInterval(timer);
    }
    assert.ok(await c.closedWithin(5000), 'the connection closes');
    await eventually(() => budget(gw).used === 0, 5000, 'the charge given back');
  });

  it('a body that arrives in time is served', async () => {
    const c = await RawClient.open(gw.url);
    assert.equal((await c.chat('gpt-4o')).status, 200);
    c.socket.destroy();
  });
});

describe('gateway.bodyBudget and gateway.bodyTimeout in the config', () => {
  it('default to min(256 MiB, RAM / 8) and 30 s; accept sizes and durations', () => {
    const d = validateConfig({}).gateway;
    assert.equal(d.bodyBudgetBytes, Math.min(256 * 1024 * 1024, Math.floor(totalmem() / 8)));
    assert.equal(d.bodyTimeoutMs, 30_000);
    const c = validateConfig({ gateway: { bodyBudget: '64MiB', bodyTimeout: '45s' } }).gateway;
    assert.deepEqual(c, { bodyBudgetBytes: 64 * 1024 * 1024, bodyTimeoutMs: 45_000 });
  });

  it('reports bad values and unknown keys with their paths', () => {
    const bad = { gateway: { bodyBudget: 'lots', bodyTimeout: '0s', maxBody: 1 } };
    assert.throws(() => validateConfig(bad), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const paths = err.issues.map((i) => i.path).sort();
      assert.deepEqual(paths, ['gateway.bodyBudget', 'gateway.bodyTimeout', 'gateway.maxBody']);
      return true;
    });
  });

  it('a reload applies new limits to the shared budget', async () => {
    const gw = await startGateway({ ...oneChannel, limits: { bodyBudget: '1MiB' } });
    const { up } = gw.up;
    try {
      assert.equal(budget(gw).limit, 1024 * 1024);
      const next = validateConfig({
        admin: { listen: 'off' }, log: { level: 'silent' }, store: { sqlite: 'off' }, pool: { threads: 1 },
        gateway: { bodyBudget: '2MiB', bodyTimeout: '5s' },
        services: [{
          name: 'llm', type: 'gateway', listen: '127.0.0.1:0',
          channels: [{ name: 'up', kind: 'openai', baseUrl: up.baseUrl, keys: ['k'] }],
        }],
      });
      const result = await gw.runtime.reload(next);
      assert.equal(result.ok, true, JSON.stringify(result));
      assert.equal(budget(gw).limit, 2 * 1024 * 1024);
      assert.equal((budget(gw) as unknown as { timeoutMs: number }).timeoutMs, 5000);
    } finally {
      await gw.close();
    }
  });
});
