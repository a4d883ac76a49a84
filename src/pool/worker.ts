/**
 * The pool's worker entry (runs as compiled JS: dist/src/pool/worker.js). Each named export is one task.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { CredentialsDirError, JsonBodyError, GeoDatabaseError } from '../errors.js';
import { convertRequestBody } from '../dialects/convert-request.js';
import { convertResponseBody } from '../dialects/convert-response.js';
import { summarizeRequest } from '../dialects/summarize.js';
import { scanCredentialDir } from '../credentials/scan.js';
import { openGeoDatabase, type GeoDatabase } from '../geo/database.js';
import type {
  ConvertResult, ConvertTask, GeoOpenResult, GeoResult, GeoTask, HoldTask, ScanResult, ScanTask, SummarizeResult, SummarizeTask, TaskProblem,
} from './tasks.js';

function problemOf(err: unknown): { ok: false } & TaskProblem {
  if (err instanceof JsonBodyError) return { ok: false, problem: err.problem, path: err.path, position: err.position, message: err.message };
  throw err;
}

/** A Buffer that owns its whole ArrayBuffer, so moving it never takes anything else with it. */
function ownedBuffer(buf: Buffer): Buffer {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) return buf;
  const copy = Buffer.allocUnsafeSlow(buf.byteLength);
  buf.copy(copy);
  return copy;
}

/** A result whose ArrayBuffers Piscina moves (transferableSymbol) while it posts the rest (valueSymbol). */
function withMoved<T>(value: T, buffers: ArrayBufferLike[]): T {
  return move({ [transferableSymbol]: buffers, [valueSymbol]: value } as never) as unknown as T;
}

export function summarize(task: SummarizeTask): SummarizeResult {
  let summary;
  try {
    summary = summarizeRequest(task.dialect, task.body, task.sessionField);
  } catch (err) {
    return problemOf(err);
  }
  return withMoved<SummarizeResult>({ ok: true, summary, body: task.body }, [task.body.buffer]);
}

function converted(out: Buffer, input: Uint8Array): ConvertResult {
  if (out.buffer === input.buffer) return withMoved<ConvertResult>({ ok: true, body: out, input: null }, [out.buffer]);
  const owned = ownedBuffer(out);
  return withMoved<ConvertResult>({ ok: true, body: owned, input }, [owned.buffer, input.buffer]);
}

export function convertRequest(task: ConvertTask): ConvertResult {
  try {
    return converted(convertRequestBody(task.from, task.to, task.body), task.body);
  } catch (err) {
    return problemOf(err);
  }
}

export function convertResponse(task: ConvertTask): ConvertResult {
  try {
    return converted(convertResponseBody(task.from, task.to, task.body), task.body);
  } catch (err) {
    return problemOf(err);
  }
}

export async function scanCredentials(task: ScanTask): Promise<ScanResult> {
  try {
    return { ok: true, data: await scanCredentialDir(task.dir, task.files, task.concurrency) };
  } catch (err) {
    if (err instanceof CredentialsDirError) return { ok: false, dir: err.dir, message: err.message };
    throw err;
  }
}

/** One open database per worker per spec; a failed open is retried on the next task. */
let geoKey = '';
let geoDb: Promise<GeoDatabase> | null = null;

function geoDatabase(spec: GeoTask['spec']): Promise<GeoDatabase> {
  const key = JSON.stringify(spec);
  if (geoDb === null || key !== geoKey) {
    geoKey = key;
    geoDb = openGeoDatabase(spec);
    geoDb.catch(function forgetFailedOpen() {
      if (geoKey === key) geoDb = null;
    });
  }
  return geoDb;
}

export async function geoOpen(spec: GeoTask['spec']): Promise<GeoOpenResult> {
  try {
    const db = await geoDatabase(spec);
    return { ok: true, file: db.description, message: '' };
  } catch (err) {
    if (err instanceof GeoDatabaseError) return { ok: false, file: err.file, message: err.message };
    throw err;
  }
}

export async function geoLookup(task: GeoTask): Promise<GeoResult> {
  let db: GeoDatabase;
  try {
    db = await geoDatabase(task.spec);
  } catch (err) {
    if (err instanceof GeoDatabaseError) return { ok: false, file: err.file, message: err.message };
    throw err;
  }
  const out = new Array<string | null>(task.ips.length);
  for (let i = 0; i < task.ips.length; i++) out[i] = db.lookup(task.ips[i]!);
  return { ok: true, countries: out };
}

export function hold(task: HoldTask): boolean {
  const flag = new Int32Array(task.flag);
  Atomics.store(flag, 1, 1);
  Atomics.notify(flag, 1);
  const deadline = Date.now() + task.maxMs;
  while (Atomics.load(flag, 0) === 0) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    Atomics.wait(flag, 0, 0, left);
  }
  // 2 = die the way a crashed worker does (tests of worker replacement); 1 = finish normally.
  if (Atomics.load(flag, 0) === 2) process.exit(70);
  return true;
}
