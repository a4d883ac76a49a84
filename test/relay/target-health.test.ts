import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TargetPool } from '../../src/relay/target-pool.js';
import { TargetRegistry } from '../../src/relay/target-registry.js';
import { taggedServer } from '../fixtures/tcp.js';
import { freePort, type TestServer } from '../helpers/listen.js';
import { connectTo, readLine } from '../helpers/sockets.js';
import { availableEngines, type Running, startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

interface HealthJson {
  up: boolean;
  checks: number;
  failedChecks: number;
  downs: number;
  rise: number;
  fall: number;
}

interface TargetJson {
  address: string;
  up: boolean;
  weight: number;
  backup: boolean;
  health: HealthJson | null;
}

async function targetsOf(tg: Running, service: string): Promise<TargetJson[]> {
  const body = (await (await fetch(`http://${tg.runtime.adminAddress()!}/status`)).json()) as {
    services: { name: string; state: string; detail: { targets: TargetJson[] } }[];
  };
  return body.services.find((s) => s.name === service && s.state === 'running')!.detail.targets;
}

async function targetOf(tg: Running, address: string): Promise<TargetJson> {
  return (await targetsOf(tg, 'fwd')).find((t) => t.address === address)!;
}

async function metricsOf(tg: Running): Promise<string> {
  return (await fetch(`http://${tg.runtime.adminAddress()!}/metrics`)).text();
}

/** The tag each of `count` sequential connections lands on. */
async function tags(port: number, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const socket = await connectTo(port);
    out.push(await readLine(socket));
    socket.destroy();
  }
  return out;
}

function tally(list: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of list) out[t] = (out[t] ?? 0) + 1;
  return out;
}

const NAMES = ['a', 'b', 'c'];
const HEALTH = { interval: '50ms', timeout: '200ms', rise: 2, fall: 3 };

for (const engine of availableEngines()) {
  describe(`relay (${engine.kind}): active target health and balancing`, () => {
    it('a killed target goes down after fall failed checks and up after rise good ones, with no traffic', async () => {
      const a = await taggedServer('a');
      // b closes and listens again on its port: one from freePort, which no outgoing connection takes meanwhile.
      let b: TestServer | null = await taggedServer('b', await freePort());
      const bPort = b.port;
      const bAddress = b.address;
      const tg = await startTidegate({
        admin: { listen: '127.0.0.1:0' },
        services: [
          { name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [a.address, bAddress], health: HEALTH },
        ],
      }, { engine });
      try {
        await eventually(async () => (await targetOf(tg, bAddress)).health!.checks >= 2, 10_000, 'probes run');
        assert.equal((await targetOf(tg, bAddress)).up, true);
        await b.close();
        b = null;
        await eventually(async () => !(await targetOf(tg, bAddress)).up, 10_000, 'b marked down');
        const down = (await targetOf(tg, bAddress)).health!;
        assert.equal(down.downs, 1);
        assert.ok(down.failedChecks >= 3, `down after fall (3) failed checks, saw ${down.failedChecks}`);
        const subject = `service="fwd",kind="target",name="${bAddress}"`;
        assert.match(await metricsOf(tg), new RegExp(`tidegate_health_up\\{${subject}\\} 0`));
        assert.deepEqual(await tags(tg.port('fwd'), 4), ['a', 'a', 'a', 'a'], 'a down target is not tried first');

        b = await taggedServer('b', bPort);
        await eventually(async () => (await targetOf(tg, bAddress)).up, 10_000, 'b back up');
        const up = (await targetOf(tg, bAddress)).health!;
        assert.ok(up.checks - up.failedChecks >= 2, 'up after rise (2) good checks');
        const metrics = await metricsOf(tg);
        assert.match(metrics, new RegExp(`tidegate_health_up\\{${subject}\\} 1`));
        assert.match(metrics, new RegExp(`tidegate_health_checks_total\\{${subject},result="failed"\\} [1-9]`));
        assert.deepEqual(tally(await tags(tg.port('fwd'), 4)), { a: 2, b: 2 });
        // Bytes by target (counted as each relay closes) and up/down of every target.
        await eventually(async () => /tidegate_target_bytes_total\{service="fwd",target="[^"]+",direction="in"\} [1-9]/
          .test(await metricsOf(tg)), 10_000, 'target bytes counted');
        assert.match(await metricsOf(tg), new RegExp(`tidegate_target_up\\{service="fwd",target="${a.address}"\\} 1`));
      } finally {
        await tg.stop();
        await a.close();
        await b?.close();
      }
    });

    it('send-expect marks down a target that answers something else', async () => {
      const a = await taggedServer('a');
      const wrong = await taggedServer('wrong');
      const tg = await startTidegate({
        admin: { listen: '127.0.0.1:0' },
        services: [{
          name: 'fwd', type: 'forward', listen: '127.0.0.1:0', strategy: 'failover',
          targets: [wrong.address, a.address],
          health: { ...HEALTH, type: 'send-expect', send: 'ping\n', expect: 'a\n' },
        }],
      }, { engine });
      try {
        await eventually(async () => !(await targetOf(tg, wrong.address)).up, 10_000, 'wrong answer marked down');
        assert.equal((await targetOf(tg, a.address)).up, true);
        assert.deepEqual(await tags(tg.port('fwd'), 2), ['a', 'a'], 'failover skips the down first target');
      } finally {
        await tg.stop();
        await a.close();
        await wrong.close();
      }
    });

    it('weights share connections smoothly; a backup serves only while every other target is down', async () => {
      const a = await taggedServer('a');
      const b = await taggedServer('b');
      const c = await taggedServer('c');
      const tg = await startTidegate({
        admin: { listen: '127.0.0.1:0' },
        services: [{
          name: 'fwd', type: 'forward', listen: '127.0.0.1:0', health: HEALTH,
          targets: [{ address: a.address, weight: 3 }, b.address, { address: c.address, backup: true }],
        }],
      }, { engine });
      try {
        const first = await tags(tg.port('fwd'), 40);
        assert.deepEqual(tally(first), { a: 30, b: 10 });
        // Smooth: every run of four has exactly one b.
        for (let i = 0; i + 4 <= first.length; i += 4) {
          assert.equal(first.slice(i, i + 4).filter((t) => t === 'b').length, 1);
        }
        await a.close();
        await b.close();
        const upCount = async (): Promise<number> => (await targetsOf(tg, 'fwd')).filter((t) => t.up).length;
        await eventually(async () => (await upCount()) === 1, 10_000, 'a, b down');
        assert.deepEqual(await tags(tg.port('fwd'), 3), ['c', 'c', 'c']);
        const status = await targetsOf(tg, 'fwd');
        assert.deepEqual(status.map((t) => [t.weight, t.backup]), [[3, false], [1, false], [1, true]]);
      } finally {
        await tg.stop();
        await a.close();
        await b.close();
        await c.close();
      }
    });

    it('source-hash keeps a client on its target across a reload, another target down and back', async () => {
      // Targets close and come back on their ports: ports from freePort, which no outgoing connection takes meanwhile.
      const servers: TestServer[] = [];
      for (const name of NAMES) servers.push(await taggedServer(name, await freePort()));
      const doc = (targets: string[]): Record<string, unknown> => ({
        admin: { listen: '127.0.0.1:0' },
        services: [
          { name: 'fwd', type: 'forward', listen: '127.0.0.1:0', strategy: 'source-hash', health: HEALTH, targets },
        ],
      });
      const tg = await startTidegate(doc(servers.map((s) => s.address)), { engine });
      let revived: TestServer | null = null;
      try {
        const port = tg.port('fwd');
        const mine = await tags(port, 5);
        const home = mine[0]!;
        assert.deepEqual(mine, Array(5).fill(home), 'one client address, one target');

        // A reload that lists the targets in another order: same target.
        tg.setSource(doc(servers.map((s) => s.address).reverse()));
        assert.equal((await tg.runtime.reloadFromSource()).ok, true);
        assert.deepEqual(await tags(port, 3), [home, home, home], 'across a reload');

        // Another target down and back: still home.
        const otherIndex = NAMES.findIndex((n) => n !== home);
        const other = servers[otherIndex]!;
        const otherPort = other.port;
        const otherAddress = other.address;
        await other.close();
        await eventually(async () => !(await targetOf(tg, otherAddress)).up, 10_000, 'other target down');
        assert.deepEqual(await tags(port, 3), [home, home, home], 'while another target is down');
        revived = await taggedServer(NAMES[otherIndex]!, otherPort);
        await eventually(async () => (await targetOf(tg, otherAddress)).up, 10_000, 'other target back');
        assert.deepEqual(await tags(port, 3), [home, home, home], 'after it is back');

        // Home itself down: the client moves; back up: it returns.
        const homeServer = servers[NAMES.indexOf(home)]!;
        const homePort = homeServer.port;
        await homeServer.close();
        await eventually(async () => !(await targetOf(tg, homeServer.address)).up, 10_000, 'home down');
        const moved = await tags(port, 3);
        assert.ok(moved.every((t) => t === moved[0] && t !== home), `moved to one other target: ${moved.join()}`);
        const back = await taggedServer(home, homePort);
        try {
          await eventually(async () => (await targetOf(tg, homeServer.address)).up, 10_000, 'home back');
          assert.deepEqual(await tags(port, 3), [home, home, home], 'returns home');
        } finally {
          await back.close();
        }
      } finally {
        await tg.stop();
        for (const s of servers) await s.close();
        await revived?.close();
      }
    });
  });
}

describe('target pool: source-hash spread and stability', () => {
  it('spreads addresses by weight and moves only a down target\'s clients', () => {
    const registry = new TargetRegistry();
    const targets = ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((host, i) => ({
      host, port: 80, weight: i === 2 ? 2 : 1, backup: false,
    }));
    const pool = new TargetPool('svc', targets, 'source-hash', 1_000, 1_000, registry);
    const clients = Array.from({ length: 4000 }, (_v, i) => `192.0.2.${i % 250}:${Math.floor(i / 250)}`);
    const before = clients.map((c) => pool.order(c)[0]!.label);
    const counts = tally(before);
    // Weight 2 gets about half; the others about a quarter each (4000 draws: far from the bounds by chance).
    assert.ok(counts['10.0.0.3:80']! > 1600 && counts['10.0.0.3:80']! < 2400, JSON.stringify(counts));
    assert.ok(counts['10.0.0.1:80']! > 700 && counts['10.0.0.2:80']! > 700, JSON.stringify(counts));

    // A reload with the targets in another order: nobody moves.
    const reloaded = new TargetPool('svc', [...targets].reverse(), 'source-hash', 1_000, 1_000, registry);
    assert.deepEqual(clients.map((c) => reloaded.order(c)[0]!.label), before);

    // 10.0.0.1 down: only its clients move; up again: everyone is back.
    const one = reloaded.targets.find((t) => t.label === '10.0.0.1:80')!;
    one.backoffMs = 60_000;
    one.markDown();
    const during = clients.map((c) => reloaded.order(c)[0]!.label);
    for (let i = 0; i < clients.length; i++) {
      if (before[i] === '10.0.0.1:80') assert.notEqual(during[i], '10.0.0.1:80');
      else assert.equal(during[i], before[i]);
    }
    one.markUp();
    assert.deepEqual(clients.map((c) => reloaded.order(c)[0]!.label), before);
    pool.close();
    reloaded.close();
    assert.equal(registry.size, 0);
  });
});
