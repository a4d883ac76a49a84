/**
 * The many-streams load of the relay bench (a source of N connections → the relay → a byte sink), in C when the
 * machine has a cc (bench/lib/stream-load.c, built into a temp dir once per bench process), else the Node load
 * processes of load.ts. Why C: at 100 streams the Node sink spent 0.85-0.95 CPU-s/GiB (five to nine times a splice
 * relay's 0.1-0.17) and never slept, so the "relay throughput" was the CPU share the sink got divided by its cost
 * per byte, which a relay moves only by where the kernel charges loopback TCP work (native/README.md, issue 24).
 * `TIDEGATE_BENCH_STREAM_LOAD=node` forces the Node load (for a comparison with earlier results).
 */
import { createInterface, type Interface } from 'node:readline';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Sink, startSource, stopSource, settleSink, type LoadProcess, type ByteCounter } from './load.js';
import { ManagedProcess, hasCommand, runCommand } from './process.js';

/** C sources are not compiled by tsc: read from the repository (dist/bench/lib → ../../../bench/lib). */
const sourceFile = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bench', 'lib', 'stream-load.c');

/** A sink every stream ends in: its port, its pid (for its CPU), bytes received so far. */
export interface StreamSink extends ByteCounter {
  readonly port: number;
  readonly pid: number;
  /** Resolves once the count stood still a while (what a relay still held after a source stopped has arrived). */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

/** A running source of N streams. */
export interface StreamSource {
  readonly pid: number;
  stop(): Promise<void>;
}

export type StreamLoadKind = 'c' | 'node';

export interface StreamLoad {
  readonly kind: StreamLoadKind;
  readonly sink: StreamSink;
  /** `streams` connections to 127.0.0.1:port writing `chunkSize` bytes at a time; resolves once all are connected. */
  startSource(port: number, streams: number, chunkSize?: number): Promise<StreamSource>;
  stop(): Promise<void>;
}

const CHUNK = 256 * 1024;

/** The binary, built once per process (a promise, so concurrent callers share the build); null without a cc. */
let built: Promise<string | null> | null = null;

function buildOnce(): Promise<string | null> {
  built ??= (async () => {
    if (!(await hasCommand('cc', ['--version']))) return null;
    const dir = await mkdtemp(join(tmpdir(), 'tidegate-stream-load-'));
    const binary = join(dir, 'stream-load');
    const result = await runCommand('cc', ['-O2', '-o', binary, sourceFile]);
    if (result.code !== 0) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`cc failed on stream-load.c: ${result.stderr.trim().slice(0, 400)}`);
    }
    process.once('exit', function removeStreamLoad() {
      rmSync(dir, { recursive: true, force: true });  // an exit handler runs synchronous work only
    });
    return binary;
  })();
  return built;
}

/** Reads the child's stdout line by line; `next()` is its next line. */
class Lines {
  private readonly reader: Interface;
  private readonly queue: string[] = [];
  private waiting: ((line: string | null) => void) | null = null;
  private ended = false;

  constructor(child: ManagedProcess) {
    if (child.child.stdout === null) throw new Error(`${child.name}: no stdout`);
    this.reader = createInterface({ input: child.child.stdout });
    this.reader.on('line', (line: string) => {
      const waiting = this.waiting;
      this.waiting = null;
      if (waiting !== null) waiting(line);
      else this.queue.push(line);
    });
    this.reader.once('close', () => {
      this.ended = true;
      const waiting = this.waiting;
      this.waiting = null;
      waiting?.(null);
    });
  }

  next(): Promise<string | null> {
    const line = this.queue.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }
}

async function expectLine(child: ManagedProcess, lines: Lines, prefix: string): Promise<string> {
  const line = await lines.next();
  if (line === null || !line.startsWith(prefix)) {
    await child.stop();
    throw new Error(`${child.name}: expected "${prefix}…", got ${line ?? 'its exit'}: ${child.tail()}`);
  }
  return line.slice(prefix.length).trim();
}

class CSink implements StreamSink {
  private constructor(
    private readonly child: ManagedProcess,
    private readonly lines: Lines,
    readonly port: number,
  ) {}

  static async start(binary: string): Promise<CSink> {
    const child = new ManagedProcess('stream-sink', binary, ['sink'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = new Lines(child);
    const port = Number(await expectLine(child, lines, 'port '));
    return new CSink(child, lines, port);
  }

  get pid(): number {
    return this.child.pid;
  }

  async bytes(): Promise<number> {
    this.child.assertAlive();
    this.child.child.stdin?.write('count\n');
    return Number(await expectLine(this.child, this.lines, 'bytes '));
  }

  settle(): Promise<void> {
    return settleSink(this);
  }

  async stop(): Promise<void> {
    this.child.child.stdin?.end();
    await this.child.stop();
  }
}

async function startCSource(binary: string, port: number, streams: number, chunk: number): Promise<StreamSource> {
  const child = new ManagedProcess('stream-source', binary, ['source', String(port), String(streams), String(chunk)]);
  await expectLine(child, new Lines(child), 'started');
  return { pid: child.pid, stop: () => child.stop() };
}

function nodeSource(load: LoadProcess): StreamSource {
  const pid = load.child.pid;
  if (pid === undefined) throw new Error('the source load process has no pid');
  return { pid, stop: () => stopSource(load) };
}

/** The C load when it can be built (and is not opted out of), else the Node load. */
export async function startStreamLoad(): Promise<StreamLoad> {
  const forced = process.env['TIDEGATE_BENCH_STREAM_LOAD'];
  const c = forced === 'node' ? null : await buildOnce();
  if (c === null) {
    const sink = await Sink.start();
    return {
      kind: 'node',
      sink,
      startSource: async (port, streams, chunkSize = CHUNK) => nodeSource(await startSource(port, streams, chunkSize)),
      stop: () => sink.stop(),
    };
  }
  const sink = await CSink.start(c);
  return {
    kind: 'c',
    sink,
    startSource: (port, streams, chunkSize = CHUNK) => startCSource(c, port, streams, chunkSize),
    stop: () => sink.stop(),
  };
}
