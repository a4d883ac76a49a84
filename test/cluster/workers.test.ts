import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { echoServer } from '../fixtures/tcp.js';
import { MockUpstream } from '../fixtures/llm-upstream.js';
import type { CliProcess } from '../helpers/cli.js';
import {
  acceptsByWorker, expectedAccepts, killFleet, liveByWorker, restartUnderLoad, spreadConnections, startFleet,
  totalByWorker, workersReport, type Fleet,
} from '../helpers/fleet.js';
import { channel } from '../helpers/gateway.js';
import { getJson, post, type Json } from '../helpers/http.js';
import type { TestServer } from '../helpers/listen.js';
import { chat } from '../helpers/llm.js';
import { connectTo, echoOnce as echo } from '../helpers/sockets.js';
import { eventually } from '../helpers/wait.js';

const MiB = 1024 * 1024;

/** One request on a connection of its own (`Connection: close`), so the round-robin spreads requests too. */
function postClosing(url: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = httpRequest(url, {
      method: 'POST', agent: false,
      headers: {
        'content-type': 'application/json', connection: 'close', 'content-length': Buffer.byteLength(payload),
        authorization: 'Bearer ka',
      },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

function ended(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed || socket.readableEnded) resolve();
    // A refused or cut connection may only be half-closed by tidegate (the clients allow half-open).
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
    socket.resume();
  });
}

describe('workers: two worker processes behind shared listeners', () => {
  let target: TestServer;
  let oa: MockUpstream;
  let fleet: Fleet;
  let dir: string;
  let tg: CliProcess;
  let admin: string;
  let fwd: number;
  let llm: string;
  /** Gateway requests answered 200 so far: the ledger and the request log must hold exactly these. */
  let answered = 0;

  before(async () => {
    target = await echoServer();
    oa = await MockUpstream.start({ dialect: 'openai', name: 'oa', usage: { prompt: 21, completion: 9 } });
    fleet = await startFleet('tidegate-workers-', (folder) => ({
      store: { sqlite: join(folder, 'tidegate.db'), sync: { interval: '1s' } },
      shutdownGrace: '3s',
      users: [
        { id: 'alice', keys: ['ka'] },
        // 1 MiB/s each way per worker: what the other worker can move before it hears of the quota is bounded.
        { id: 'q', quota: { bytes: '2MiB' }, rate: { in: '1MiB/s', out: '1MiB/s' } },
      ],
      services: [
        { name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] },
        { name: 'quota', type: 'forward', listen: '127.0.0.1:0', user: 'q', targets: [target.address] },
        { name: 'llm', type: 'gateway', listen: '127.0.0.1:0', channels: [channel(oa)] },
      ],
    }), ['fwd', 'quota', 'llm']);
    ({ tg, dir, admin } = fleet);
    fwd = tg.port('fwd');
    llm = `http://${tg.address('llm')}`;
  });

  after(async () => {
    await killFleet(fleet);
    await target.close();
    await oa.close();
  });

  it('runs two workers; connections and gateway requests land on both', async () => {
    const w = await workersReport(admin);
    assert.equal(w.count, 2);
    assert.deepEqual(w.slots.map((s: Json) => s.state), ['running', 'running']);
    assert.notEqual(w.slots[0].pid, w.slots[1].pid);
    // The forward services' workers accept in their addon (on a copy of the slot's socket), by default.
    await eventually(async () => (await acceptsByWorker(admin, 'quota')).every((a) => a !== null),
      10_000, 'both workers report their services');
    for (const service of ['fwd', 'quota']) {
      assert.deepEqual(await acceptsByWorker(admin, service), [expectedAccepts(), expectedAccepts()], service);
    }
    // Requests on connections of their own until both workers have served some (the kernel picks the worker).
    let sent = 0;
    for (let batch = 0; batch < 10; batch++) {
      for (let i = 0; i < 6; i++) {
        assert.equal(await postClosing(`${llm}/v1/chat/completions`, chat('gpt-4o')), 200);
        answered++;
        sent++;
      }
      let totals: number[] = [];
      await eventually(async () => {
        totals = await totalByWorker(admin, 'llm');
        return totals.reduce((a, b) => a + b, 0) === sent;
      }, 10_000, 'the workers report every request');
      if (totals.every((n) => n > 0)) break;
    }
    assert.ok((await totalByWorker(admin, 'llm')).every((n) => n > 0), 'requests on both workers');
    // Workers report about once a second: the sum reaches the six connections.
    let status: Json = null;
    await eventually(async () => {
      status = (await getJson(admin, '/status')).body;
      return status.services.find((s: Json) => s.name === 'llm').connections.total === sent;
    }, 10_000, 'the status sums the workers');
    assert.equal(status.workers.count, 2);
    const metrics = (await getJson(admin, '/metrics')).text;
    assert.match(metrics, /tidegate_worker_up\{worker="1"\} 1/);
    assert.match(metrics, /tidegate_worker_up\{worker="2"\} 1/);
  });

  it('kill -9 of one worker ends its connections only; the other keeps relaying; the slot restarts', async () => {
    const { sockets, live } = await spreadConnections(admin, fwd, 'fwd');
    const before = await workersReport(admin);
    const victim = before.slots[0];
    const endings = sockets.map((s) => ended(s).then(() => s));
    process.kill(victim.pid, 'SIGKILL');
    // The victim's three connections end.
    const gone = new Set<Socket>();
    await Promise.race([Promise.all(endings), eventually(() => {
      for (const s of sockets) if (s.destroyed || s.readableEnded) gone.add(s);
      return gone.size >= live[0]!;
    }, 10_000, 'the victim\'s connections end')]);
    const survivors = sockets.filter((s) => !gone.has(s));
    assert.equal(survivors.length, live[1]);
    // The other worker's connections still relay, unbroken.
    for (const s of survivors) await echo(s, 64 * 1024);
    await eventually(async () => {
      const w = await workersReport(admin);
      return w.slots[0].state === 'running' && w.slots[0].pid !== victim.pid;
    }, 15_000, 'slot 1 restarted');
    const w = await workersReport(admin);
    assert.equal(w.slots[0].restarts, 1);
    assert.equal(w.slots[0].crashes, 1);
    assert.equal(w.slots[1].pid, before.slots[1].pid, 'the other worker was not touched');
    for (const s of survivors) await echo(s, 1000);
    // New connections reach the replacement too (the kernel picks the worker: a few more until one lands there).
    const { sockets: fresh } = await spreadConnections(admin, fwd, 'fwd', {
      alreadyLive: survivors.length, done: (now) => now[0]! > 0,
    });
    await eventually(async () => (await liveByWorker(admin, 'fwd'))[0]! > 0, 10_000, 'the new worker relays');
    assert.deepEqual(await acceptsByWorker(admin, 'fwd'), [expectedAccepts(), expectedAccepts()]);
    for (const s of [...survivors, ...fresh]) s.destroy();
  });

  it('a user\'s quota cuts connections on both workers at the quota', async () => {
    const port = tg.port('quota');
    // The cuts happen in the workers; GET /events on the primary hears of them.
    const events = await fetch(`http://${admin}/events`);
    const reader = events.body!.getReader();
    let seen = '';
    const quotaEvent = (async () => {
      while (!seen.includes('event: quota')) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += Buffer.from(value).toString();
      }
    })();
    const { sockets } = await spreadConnections(admin, port, 'quota');
    // The primary's usage view sums the user's live relays over the workers' batches.
    await eventually(async () => (await getJson(admin, '/users/q/usage')).body.live.liveConnections === sockets.length,
      10_000, 'the primary counts the live connections of both workers');
    const chunk = Buffer.alloc(16 * 1024, 1);
    for (const s of sockets) {
      s.on('error', () => undefined);
      const pump = (): void => {
        while (!s.destroyed && s.write(chunk));
      };
      s.on('drain', pump);
      pump();
    }
    await Promise.all(sockets.map(ended));
    await eventually(async () => (await getJson(admin, '/users/q/usage')).body.live.liveConnections === 0,
      10_000, 'the cut connections leave the count');
    let usage: Json = null;
    await eventually(async () => {
      usage = (await getJson(admin, '/users/q/usage')).body;
      return usage.quota.refusal === 'quota_exceeded';
    }, 10_000, 'the quota is used up');
    await quotaEvent;
    await reader.cancel();
    assert.match(seen, /event: quota\ndata: \{[^\n]*"user":"q","reason":"quota_exceeded"[^\n]*"worker":[12]\}/);
    const used = usage.quota.used as number;
    assert.ok(used >= 2 * MiB, `used ${used}`);
    // The bound across workers: what the other worker moves before the shared usage reaches it (rate-limited here).
    assert.ok(used <= 2 * MiB + 4 * MiB, `used ${used} is within the documented bound`);
    const refused = await connectTo(port);
    await ended(refused);
    await eventually(async () => {
      const service = (await getJson(admin, '/status')).body.services.find((x: Json) => x.name === 'quota');
      return service.connections.refused >= 1;
    }, 10_000, 'the refusal counted');
  });

  it('a reload applies in both workers with one result', async () => {
    const file = join(dir, 'tidegate.json');
    const { readFileSync, writeFileSync } = await import('node:fs');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as Json;
    doc.services.push({ name: 'added', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] });
    writeFileSync(file, JSON.stringify(doc));
    const res = await post(`http://${admin}/reload`, {});
    assert.equal(res.status, 200);
    const result = res.json();
    assert.equal(result.ok, true, JSON.stringify(result.failed));
    assert.deepEqual(result.added, ['added']);
    assert.deepEqual(result.failed, []);
    await eventually(async () => (await workersReport(admin)).slots.every(
      (s: Json) => s.services.some((x: Json) => x.name === 'added' && x.state === 'running'),
    ), 10_000, 'added in both workers');
    assert.deepEqual(await acceptsByWorker(admin, 'added'), [expectedAccepts(), expectedAccepts()]);
    const status = (await getJson(admin, '/status')).body;
    assert.equal(status.reloads.total, 1);
  });

  it('a reload that fails in the workers says which; five crashes in a minute mark a slot failed', async () => {
    const file = join(dir, 'tidegate.json');
    const { readFileSync, writeFileSync } = await import('node:fs');
    const good = readFileSync(file, 'utf8');
    const doc = JSON.parse(good) as Json;
    // The echo target's port is taken: every worker fails to listen there, and the result names each.
    doc.services.push({ name: 'taken', type: 'forward', listen: target.address, targets: [target.address] });
    writeFileSync(file, JSON.stringify(doc));
    const result = (await post(`http://${admin}/reload`, {})).json();
    assert.equal(result.ok, false);
    assert.deepEqual(result.failed.map((f: Json) => [f.service, f.worker]).sort(), [['taken', 1], ['taken', 2]]);
    writeFileSync(file, good);
    assert.equal((await post(`http://${admin}/reload`, {})).json().ok, true);

    const pids = new Set<number>();
    for (let crash = 0; crash < 5; crash++) {
      let pid = 0;
      await eventually(async () => {
        const slot = (await workersReport(admin)).slots[1];
        pid = slot.pid;
        return slot.state === 'running' && !pids.has(pid);
      }, 30_000, `slot 2 running again (${crash})`);
      pids.add(pid);
      process.kill(pid, 'SIGKILL');
    }
    await eventually(async () => (await workersReport(admin)).slots[1].state === 'failed', 10_000, 'slot 2 failed');
    const metrics = (await getJson(admin, '/metrics')).text;
    assert.match(metrics, /tidegate_worker_failed\{worker="2"\} 1/);
    await tg.waitFor('slot marked failed');
    // The other worker serves every connection.
    const s = await connectTo(fwd);
    await echo(s, 1000);
    s.destroy();
    assert.equal((await workersReport(admin)).slots[0].state, 'running');
  });

  it('a rolling restart under steady gateway requests fails none', async () => {
    const before = await workersReport(admin);
    const load = await restartUnderLoad(admin, async () => {
      const status = await postClosing(`${llm}/v1/chat/completions`, chat('gpt-4o'));
      if (status !== 200) return String(status);
      answered++;
      return null;
    }, 10, 0);
    assert.equal(load.status, 200);
    const after = load.restarted;
    assert.deepEqual(load.failures, []);
    assert.ok(load.ok > 10);
    for (let i = 0; i < 2; i++) {
      assert.notEqual(after.slots[i].pid, before.slots[i].pid);
      assert.equal(after.slots[i].state, 'running');
    }
  });

  it('SIGTERM drains every worker and the ledger is exact', async () => {
    // `added` started after the kill -9 above; the rolling restart drained gracefully: nothing of it may be missing.
    const port = tg.port('added');
    const { sockets } = await spreadConnections(admin, port, 'added');
    for (const s of sockets) await echo(s, 100_000);
    const bytes = sockets.length * (100 + 100_000);
    for (let i = 0; i < 8; i++) {
      assert.equal(await postClosing(`${llm}/v1/chat/completions`, chat('gpt-4o')), 200);
      answered++;
    }
    tg.child.kill('SIGTERM');
    // The connections are still open at the signal; they finish within the grace, then the workers hand over.
    await tg.waitFor('shutting down gracefully', 10_000);
    for (const s of sockets) s.end();
    assert.equal(await tg.exited, 0);
    const db = new Database(join(dir, 'tidegate.db'), { readonly: true });
    try {
      const row = (kind: string, id: string): Json => db.prepare(
        'SELECT * FROM accounting_usage WHERE kind = ? AND subject = ? AND period = ?',
      ).get(kind, id, 'all');
      const added = row('service', 'added');
      assert.equal(added.bytes_in, bytes);
      assert.equal(added.bytes_out, bytes);
      assert.equal(added.connections, sockets.length);
      const logged = (db.prepare('SELECT count(*) AS n FROM request_log WHERE service = ?').get('llm') as Json).n;
      assert.equal(logged, answered, 'one request-log row per answered request');
      assert.equal(row('service', 'llm').requests, answered, 'one ledger request per answered request');
    } finally {
      db.close();
    }
  });
});
