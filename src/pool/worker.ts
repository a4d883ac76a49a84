/**
 * The pool's worker entry (runs as compiled JS: dist/src/pool/worker.js). Each named export is one task.
 */
import { move } from 'piscina';
import { JsonBodyError, GeoDatabaseError } from '../errors.js';
import { convertRequestBody } from '../dialects/convert-request.js';
import { convertResponseBody } from '../dialects/convert-response.js';
import { summarizeRequest } from '../dialects/summarize.js';
import { scanCredentialDir } from '../credentials/scan.js';
import type { CredentialIndexData } from '../credentials/types.js';
import { openGeoDatabase, type GeoDatabase } from '../geo/database.js';
import type {
  ConvertResult, ConvertTask, GeoOpenResult, GeoResult, GeoTask, HoldTask, ScanTask, SummarizeResult, SummarizeTask, TaskProblem,
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

export function summarize(task: SummarizeTask): SummarizeResult {
  try {
    return { ok: true, summary: summarizeRequest(task.dialect, task.body, task.sessionField) };
  } catch (err) {
    return problemOf(err);
  }
}

export function convertRequest(task: ConvertTask): ConvertResult {
  try {
    return move(ownedBuffer(convertRequestBody(task.from, task.to, task.body))) as Uint8Array;
  } catch (err) {
    return problemOf(err);
  }
}

export function convertResponse(task: ConvertTask): ConvertResult {
  try {
    return move(ownedBuffer(convertResponseBody(task.from, task.to, task.body))) as Uint8Array;
  } catch (err) {
    return problemOf(err);
  }
}

export function scanCredentials(task: ScanTask): Promise<CredentialIndexData> {
  return scanCredentialDir(task.dir, task.files, task.concurrency);
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
  return true;
}
