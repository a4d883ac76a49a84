import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { startTidegateProcess, type CliProcess } from './cli.js';
import { getJson, post, type Json } from './http.js';
import { connectTo, echoOnce } from './sockets.js';
import { tempDir } from './temp.js';
import { eventually } from './wait.js';
import { reusePortCalls } from '../../src/listen/reuseport.js';

/** Worker fleets in tests: a `tidegate start` process with workers, and what its workers report. */

export interface Fleet {
  readonly tg: CliProcess;
  readonly dir: string;
  /** The admin address (`host:port`). */
  readonly admin: string;
}

type Config = Record<string, unknown>;

/**
 * `tidegate start` in a fresh temp dir on `config` (or what it makes of the dir) with an admin listener on a free
 * port and two workers unless it says otherwise; resolves once the `ready` services and the admin are listening.
 */
export async function startFleet(
  prefix: string, config: Config | ((dir: string) => Config), ready: readonly string[],
  options: Parameters<typeof startTidegateProcess>[3] = {},
): Promise<Fleet> {
  const dir = tempDir(prefix);
  try {
    const own = typeof config === 'function' ? config(dir) : config;
    const tg = await startTidegateProcess(dir, { admin: { listen: '127.0.0.1:0' }, workers: 2, ...own },
      [...ready, 'admin'], options);
    return { tg, dir, admin: tg.address('admin') };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Kills the fleet's primary (its workers follow it), waits for it to exit and removes its dir. */
export async function killFleet(fleet: Fleet | undefined): Promise<void> {
  if (fleet === undefined) return;
  fleet.tg.child.kill('SIGKILL');
  await fleet.tg.exited;
  rmSync(fleet.dir, { recursive: true, force: true });
}

/** `GET /workers`. */
export async function workersReport(admin: string): Promise<Json> {
  return (await getJson(admin, '/workers')).body;
}

/**
 * Who accepts a native forward service's connections in a fleet's workers, as this test run configures them: the
 * addon on its slot's SO_REUSEPORT socket by default; Node with `TIDEGATE_NATIVE_ACCEPT=0`, the JavaScript engine,
 * or without the addon (node:cluster's round-robin handles have no fd).
 */
export function expectedAccepts(): 'engine' | 'node' {
  const native = process.env.TIDEGATE_RELAY !== 'js' && reusePortCalls() !== null;
  return native && process.env.TIDEGATE_NATIVE_ACCEPT !== '0' ? 'engine' : 'node';
}

/** Who accepts `service` in every worker slot (`GET /workers`), null where a slot does not report it. */
export async function acceptsByWorker(admin: string, service: string): Promise<(string | null)[]> {
  const w = await workersReport(admin);
  return w.slots.map((s: Json) => s.services.find((x: Json) => x.name === service)?.accepts ?? null);
}

/** Live connections of `service` per worker slot, from the workers' last reports. */
export function liveByWorker(admin: string, service: string): Promise<number[]> {
  return connectionsByWorker(admin, service, 'live');
}

/** Connections of `service` each worker slot served so far, from the workers' last reports. */
export function totalByWorker(admin: string, service: string): Promise<number[]> {
  return connectionsByWorker(admin, service, 'total');
}

async function connectionsByWorker(admin: string, service: string, which: 'live' | 'total'): Promise<number[]> {
  const w = await workersReport(admin);
  return w.slots.map((s: Json) => s.services.find((x: Json) => x.name === service)?.connections[which] ?? 0);
}

export interface SpreadOptions {
  /** Connections opened per batch before the workers' reports are read (10 batches at the most). Default 4. */
  readonly perBatch?: number;
  /** Connections of `service` already live (kept from before) that the reports also count. Default 0. */
  readonly alreadyLive?: number;
  /** When enough have landed, given the live connections per worker. Default: every worker has some. */
  readonly done?: (live: number[]) => boolean;
}

/**
 * Opens connections to `port` in batches (each echoes 100 bytes once and stays open) until `done` holds for the
 * live connections per worker, read once the workers' reports account for every connection: the kernel (or
 * node:cluster's round-robin) picks each connection's worker. Throws after 10 batches, closing what it opened.
 */
export async function spreadConnections(
  admin: string, port: number, service: string, options: SpreadOptions = {},
): Promise<{ sockets: Socket[]; live: number[] }> {
  const perBatch = options.perBatch ?? 4;
  const alreadyLive = options.alreadyLive ?? 0;
  const done = options.done ?? ((live: number[]) => live.every((n) => n > 0));
  const sockets: Socket[] = [];
  let live: number[] = [];
  try {
    for (let batch = 0; batch < 10; batch++) {
      for (let i = 0; i < perBatch; i++) {
        const s = await connectTo(port);
        sockets.push(s);
        await echoOnce(s, 100);
      }
      await eventually(async () => {
        live = await liveByWorker(admin, service);
        return live.reduce((a, b) => a + b, 0) === alreadyLive + sockets.length;
      }, 10_000, 'the workers report every connection');
      if (done(live)) return { sockets, live };
    }
  } catch (err) {
    for (const s of sockets) s.destroy();
    throw err;
  }
  for (const s of sockets) s.destroy();
  throw new Error(`${sockets.length} connections to ${service} did not land as wanted: ${live.join()} per worker`);
}

export interface RestartUnderLoad {
  /** POST /workers/restart's status and body (the slots after the restart). */
  readonly status: number;
  readonly restarted: Json;
  /** Calls served in all, and what each failed one said. */
  readonly ok: number;
  readonly failures: string[];
}

/**
 * A rolling restart (POST /workers/restart) under 4 loops of `call`, which resolves with null when served and with a
 * failure's text otherwise (a throw is a failure too): `okBefore` calls are served before the restart, and with a
 * 200 answer `okAfter` more after it. The loops stop whatever happens.
 */
export async function restartUnderLoad(
  admin: string, call: () => Promise<string | null>, okBefore: number, okAfter: number,
): Promise<RestartUnderLoad> {
  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const clients = Array.from({ length: 4 }, async () => {
    while (!stop) {
      try {
        const failure = await call();
        if (failure === null) ok++;
        else failures.push(failure);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  });
  try {
    await eventually(() => ok >= okBefore, 10_000, 'calls served before the restart');
    const res = await post(`http://${admin}/workers/restart`, {});
    const atRestart = ok;
    if (res.status === 200) {
      await eventually(() => ok >= atRestart + okAfter, 10_000, 'calls served after the restart');
    }
    return { status: res.status, restarted: res.json(), ok, failures };
  } finally {
    stop = true;
    await Promise.all(clients);
  }
}
