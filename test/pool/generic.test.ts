import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { scanInPool } from '../../src/credentials/offload.js';
import { scanCredentialDir } from '../../src/credentials/scan.js';
import { convertRequest, parseRequest } from '../../src/dialects/offload.js';
import { summarizeRequest } from '../../src/dialects/summarize.js';
import {
  CredentialsDirError, errorFromData, errorToData, GeoDatabaseError, JsonBodyError, PoolQueueFullError, PoolTaskError,
  SocksRefusal, TidegateError,
} from '../../src/errors.js';
import { BodyCodec } from '../../src/gateway/codec.js';
import { openGeoDatabase } from '../../src/geo/database.js';
import { geoOpen } from '../../src/geo/offload.js';
import {
  createWorkerPool, DEFAULT_JSON_OFFLOAD_BYTES, resolveJsonOffloadBytes, type WorkerPool,
} from '../../src/pool/index.js';
import { buf, chatBodyOfSize, openAIChatRequest } from '../fixtures/pool/bodies.js';
import { ECHO_TASK, REFUSE_TASK, THROW_TASK } from '../fixtures/pool/tasks.js';
import { Hold, makePool, poolConfig, silent } from './helpers.js';

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('a generic pool: any task file, errors as data', () => {
  let pool: WorkerPool;
  let dir: string;
  before(async () => {
    pool = makePool({ threads: 1 });
    // A colon-space in the path: a message rebuilt by cutting text at ": " would come out wrong.
    dir = await mkdtemp(join(tmpdir(), 'tg-pool: data-'));
  });
  after(async () => {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs a task from a file outside src/ by its name', async () => {
    assert.equal(await pool.run(ECHO_TASK, { n: 21 }), 42);
  });

  it('a TidegateError thrown in a task arrives as its class, fields and code, the message unchanged', async () => {
    const err = await rejection(pool.run(REFUSE_TASK, { file: '/x: y.mmdb', why: 'file not found' }));
    assert.ok(err instanceof GeoDatabaseError);
    assert.equal(err.code, 'TG_ERR_GEO_DATABASE');
    assert.equal(err.file, '/x: y.mmdb');
    assert.equal(err.message, 'GeoIP database /x: y.mmdb: file not found');
    assert.equal(pool.stats().failed, 0, 'an input problem is not a task failure');
  });

  it('anything else a task throws is PoolTaskError naming the task', async () => {
    const err = await rejection(pool.run(THROW_TASK, { message: 'boom' }));
    assert.ok(err instanceof PoolTaskError);
    assert.equal(err.code, 'TG_ERR_POOL_TASK');
    assert.equal(err.task, 'throwPlain');
    assert.match(err.message, /boom/);
    assert.equal(pool.stats().failed, 1);
  });

  it('a geo open failure arrives as GeoDatabaseError, identical to the one the main thread would raise', async () => {
    const file = join(dir, 'missing.mmdb');
    const spec = { database: file, lists: [] };
    const local = await rejection(openGeoDatabase(spec));
    const remote = await rejection(geoOpen(pool, spec));
    assert.ok(remote instanceof GeoDatabaseError && local instanceof GeoDatabaseError);
    assert.equal(remote.code, 'TG_ERR_GEO_DATABASE');
    assert.equal(remote.file, file);
    assert.equal(remote.message, local.message);
    assert.equal(remote.name, 'GeoDatabaseError');
  });

  it('a credentials-dir failure arrives as CredentialsDirError with its dir, code and message', async () => {
    const missing = join(dir, 'no: such dir');
    const local = await rejection(scanCredentialDir(missing, null));
    const remote = await rejection(scanInPool(pool, missing));
    assert.ok(remote instanceof CredentialsDirError && local instanceof CredentialsDirError);
    assert.equal(remote.code, 'TG_ERR_CREDENTIALS_DIR');
    assert.equal(remote.dir, missing);
    assert.equal(remote.message, local.message);
    assert.match(remote.message, /does not exist$/);
  });
});

describe('errorToData / errorFromData', () => {
  it('round-trips a class with its fields, and picks a subclass that shares its parent\'s code by name', () => {
    const json = errorFromData(errorToData(new JsonBodyError('shape', '$.messages[0]', null, 'expected an object')));
    assert.ok(json instanceof JsonBodyError);
    assert.deepEqual(json.toJSON(), {
      code: 'TG_ERR_JSON_BODY', message: 'expected an object', problem: 'shape', path: '$.messages[0]', position: null,
    });
    const socks = errorFromData(structuredClone(errorToData(new SocksRefusal('no', 2, 'malformed'))));
    assert.ok(socks instanceof SocksRefusal);
    assert.equal(socks.reply, 2);
    assert.equal(socks.reason, 'malformed');
    assert.equal(socks.code, new SocksRefusal('x', 1, 'timeout').code);
  });

  it('an unknown code is an InternalError carrying the message', () => {
    const e = errorFromData({ code: 'TG_ERR_NOPE', name: 'Nope', message: 'm', fields: {} });
    assert.ok(e instanceof TidegateError);
    assert.equal(e.code, 'TG_ERR_INTERNAL');
    assert.equal(e.message, 'm');
  });
});

describe('the one inline-or-offload decision', () => {
  it('offloads() is true at or above the threshold; every false answer counts one inline task', () => {
    const pool = makePool({}, 1024);
    try {
      assert.equal(pool.offloads(1023), false);
      assert.equal(pool.offloads(0), false);
      assert.equal(pool.offloads(1024), true);
      assert.equal(pool.offloads(1 << 20), true);
      assert.equal(pool.stats().inline, 2);
    } finally {
      void pool.close();
    }
  });

  it('the gateway codec and the dialect tasks follow it (inline without a promise below, the pool above)', async () => {
    const small = buf(openAIChatRequest);
    const pool = makePool({ threads: 1 }, small.byteLength + 1);
    try {
      const codec = new BodyCodec(pool);
      const summary = codec.parseInline('openai-chat', small, null);
      assert.deepEqual(summary, summarizeRequest('openai-chat', small, null));
      assert.ok(codec.convertInline('openai-chat', 'anthropic-messages', small) !== null);
      await parseRequest(pool, 'openai-chat', small);
      assert.equal(pool.stats().inline, 3);
      assert.equal(pool.stats().completed, 0);
      const large = chatBodyOfSize(small.byteLength + 1);
      assert.equal(codec.parseInline('openai-chat', large, null), null);
      assert.equal(codec.convertInline('openai-chat', 'anthropic-messages', large), null);
      assert.equal((await codec.parseLarge('openai-chat', large, null)).model, 'gpt-4o');
      await convertRequest(pool, 'openai-chat', 'anthropic-messages', large);
      assert.equal(pool.stats().inline, 3, 'the large body never ran inline');
      assert.equal(pool.stats().completed, 2);
    } finally {
      await pool.close();
    }
  });
});

describe('a full queue', () => {
  it('refuses an offloaded body before copying it, while bodies below the threshold still run inline', async () => {
    const pool = makePool({ threads: 1, maxQueue: 1 }, 1024);
    const running = new Hold();
    const queued = new Hold();
    try {
      const first = pool.hold(running.sab);
      await running.parked();
      const second = pool.hold(queued.sab);
      assert.equal(pool.stats().queueSize, 1);
      const err = await rejection(parseRequest(pool, 'openai-chat', chatBodyOfSize(100_000)));
      assert.ok(err instanceof PoolQueueFullError);
      const s = pool.stats();
      assert.equal(s.rejectedQueueFull, 1);
      assert.deepEqual([s.bodyBuffers.allocated, s.bodyBuffers.reused], [0, 0], 'no body was copied for the refusal');
      assert.equal((await parseRequest(pool, 'openai-chat', buf(openAIChatRequest))).model, 'gpt-4o');
      assert.equal(pool.stats().inline, 1);
      running.release();
      queued.release();
      assert.deepEqual([await first, await second], [true, true]);
    } finally {
      await pool.close();
    }
  });
});

describe("jsonOffloadBytes: 'auto' is a documented constant", () => {
  let cwd: string;
  const home = process.cwd();
  before(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'tg-threshold-'));
    await mkdir(join(cwd, 'bench', 'results'), { recursive: true });
    const rec = { jsonOffloadBytes: 12_345, measuredAt: '2026-01-01T00:00:00Z', why: 'test' };
    await writeFile(join(cwd, 'bench', 'results', 'pool-threshold.json'), JSON.stringify(rec));
  });
  after(async () => {
    process.chdir(home);
    await rm(cwd, { recursive: true, force: true });
  });

  it('a number in the config wins', () => {
    assert.deepEqual(resolveJsonOffloadBytes(4096), { bytes: 4096, source: 'config' });
  });

  it('a bench result in the working directory does not change it', async () => {
    process.chdir(cwd);
    const auto = resolveJsonOffloadBytes('auto');
    assert.deepEqual(auto, { bytes: DEFAULT_JSON_OFFLOAD_BYTES, source: 'auto (documented default)' });
    const pool = createWorkerPool(poolConfig({ jsonOffloadBytes: 'auto' }), silent);
    try {
      assert.equal(pool.jsonOffloadBytes, 65_536);
      assert.equal(pool.stats().jsonOffloadBytes, 65_536);
    } finally {
      await pool.close();
      process.chdir(home);
    }
  });

  it('src/pool reads no file and imports no domain (only errors, log, config types, piscina, node:)', async () => {
    const src = fileURLToPath(new URL('../../../src/pool/', import.meta.url));
    const allowed = /^(node:(?!fs)|piscina$|\.\/|\.\.\/(errors|log|config\/types)\.js$)/;
    for (const name of await readdir(src)) {
      if (!name.endsWith('.ts')) continue;
      const text = await readFile(join(src, name), 'utf8');
      for (const m of text.matchAll(/^(?:import|export)[^'"]*?from '([^']+)'/gm)) {
        assert.match(m[1]!, allowed, `${name} imports ${m[1]}`);
      }
      assert.doesNotMatch(text, /readFileSync|readFile\(/, `${name} reads a file`);
    }
  });
});
