/**
 * One-off: what finding a large request body's routing fields costs, by way and size (1 KiB–8 MiB), for two body
 * shapes: one long text (a pasted document; the gateway bench's 1 MiB body) and a long chat of short turns.
 * Ways: JSON.parse inline (summarizeRequest), the skeleton inline (gateway/long-body.ts), and in the pool: parse with
 * the body copied (before), parse with it transferred, the skeleton with it transferred. Rounds are interleaved;
 * figures are medians of CPU time per body, read from /proc (so a shared machine's waiting is not counted): the main
 * thread's (what other requests lose) and the process's (main + workers), and bodies/s with 8 in flight (wall clock:
 * noisy when the machine is shared). `node dist/bench/body-scan-measure.js [--rounds N]`
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseRequest } from '../src/dialects/offload.js';
import { summarizeRequest } from '../src/dialects/summarize.js';
import { BodyCodec } from '../src/gateway/codec.js';
import { summarizeLong } from '../src/gateway/long-body.js';
import { createLogger } from '../src/log.js';
import { createWorkerPool, type WorkerPool } from '../src/pool/pool.js';
import { flagValue } from './lib/args.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [KiB, 16 * KiB, 256 * KiB, MiB, 8 * MiB];
const IN_FLIGHT = 8;
const FIELD = 'metadata.user_id';

/** One long text, as the gateway bench's big body. */
function longText(bytes: number): Buffer {
  const base = { model: 'gpt-4o-mini', metadata: { user_id: 'u1' }, messages: [{ role: 'user', content: '' }] };
  const empty = JSON.stringify(base).length;
  base.messages[0]!.content = 'x'.repeat(Math.max(1, bytes - empty));
  return Buffer.from(JSON.stringify(base));
}

/** Many short turns (some non-ASCII). */
function shortTurns(bytes: number): Buffer {
  const turn = 'The quick brown fox jumps over the lazy dog, then checks the weather in Paris (été). ';
  const messages: { role: string; content: string }[] = [];
  let size = 80;
  for (let i = 0; size < bytes; i++) {
    const m = { role: i % 2 === 0 ? 'user' : 'assistant', content: `${i}: ${turn.repeat(1 + (i % 3))}` };
    messages.push(m);
    size += Buffer.byteLength(m.content) + 34;
  }
  return Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', metadata: { user_id: 'u1' }, messages }));
}

type Way = (body: Buffer) => Promise<unknown>;

function inline(fn: (b: Buffer) => unknown): Way {
  return function inlineWay(body) {
    return new Promise(function nextTurn(resolve, reject) {
      setImmediate(function work() {
        try {
          resolve(fn(body));
        } catch (err) {
          reject(err as Error);
        }
      });
    });
  };
}

/** A body the way BodyIntake makes one: its own memory (transferable). */
function owned(body: Buffer): Buffer {
  const b = Buffer.allocUnsafeSlow(body.length);
  body.copy(b);
  return b;
}

function ways(pool: WorkerPool): Record<string, { way: Way; own: boolean }> {
  const codec = new BodyCodec(pool);
  return {
    'parse-inline': { way: inline((b) => summarizeRequest('openai-chat', b, FIELD)), own: false },
    'skeleton-inline': { way: inline((b) => summarizeLong('openai-chat', b, FIELD)), own: false },
    'pool-parse-copy': { way: (b) => parseRequest(pool, 'openai-chat', b, { sessionField: FIELD }), own: false },
    'pool-parse-transfer': {
      way: (b) => parseRequest(pool, 'openai-chat', b, { sessionField: FIELD, transfer: true }), own: true,
    },
    'pool-large': { way: (b) => codec.parseLarge('openai-chat', b, FIELD), own: true },
  };
}

interface Sample { mainUs: number; cpuUs: number; perSec: number }

const TICK_US = 10_000;

/** The main thread's CPU time in µs (utime + stime of /proc/self/task/<pid>/stat; 10 ms ticks). */
function mainThreadCpuUs(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_US;
}

function processCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function run(way: Way, bodies: Buffer[], own: boolean): Promise<Sample> {
  // Transferred bodies are detached: each task gets its own copy, made before the clock starts.
  const inputs = own ? bodies.map(owned) : bodies;
  let next = 0;
  const main0 = mainThreadCpuUs();
  const cpu0 = processCpuUs();
  const t0 = performance.now();
  async function lane(): Promise<void> {
    while (next < inputs.length) await way(inputs[next++]!);
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const ms = performance.now() - t0;
  const n = inputs.length;
  return {
    mainUs: (mainThreadCpuUs() - main0) / n, cpuUs: (processCpuUs() - cpu0) / n, perSec: (n * 1000) / ms,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const rounds = Number(flagValue(process.argv, '--rounds') ?? 5);
  const pool = createWorkerPool(
    { threads: 2, jsonOffloadBytes: 0, maxQueue: 256, idleTimeoutMs: 60_000 }, createLogger('silent'),
    { jsonOffloadBytes: 0 },
  );
  const all = ways(pool);
  const names = Object.keys(all);
  try {
    for (const shape of [longText, shortTurns]) {
      for (const size of SIZES) {
        const body = shape(size);
        const count = Math.max(8, Math.min(2000, Math.floor((64 * MiB) / body.length)));
        const bodies = Array.from({ length: count }, () => body);
        for (const n of names) await run(all[n]!.way, bodies.slice(0, 8), all[n]!.own);
        const got = new Map<string, Sample[]>(names.map((n) => [n, []]));
        for (let r = 0; r < rounds; r++) {
          // Rotating order, so no way always runs first.
          for (let k = 0; k < names.length; k++) {
            const n = names[(k + r) % names.length]!;
            got.get(n)!.push(await run(all[n]!.way, bodies, all[n]!.own));
          }
        }
        const kib = (body.length / KiB).toFixed(0);
        for (const n of names) {
          const s = got.get(n)!;
          const main = median(s.map((x) => x.mainUs));
          const cpu = median(s.map((x) => x.cpuUs));
          const rate = median(s.map((x) => x.perSec));
          process.stdout.write(
            `${shape.name.padEnd(10)} ${kib.padStart(5)} KiB  ${n.padEnd(20)} main ${main.toFixed(1).padStart(9)} µs`
              + `  all ${cpu.toFixed(1).padStart(9)} µs  ${rate.toFixed(0).padStart(7)} bodies/s\n`,
          );
        }
      }
    }
  } finally {
    await pool.close();
  }
}

main().catch(function failed(err: Error) {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
