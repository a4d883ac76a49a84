/**
 * The GeoIP pool tasks (run in workers as dist/src/geo/tasks.js; the main thread's side: offload.ts). Each worker
 * keeps one open database per spec.
 */
import { failed, succeeded, type TaskOutcome } from '../pool/task.js';
import { openGeoDatabase, type GeoDatabase, type GeoSpec } from './database.js';
import type { LookupInput } from './offload.js';

/** One open database per worker per spec; a failed open is retried on the next task. */
let geoKey = '';
let geoDb: Promise<GeoDatabase> | null = null;

function geoDatabase(spec: GeoSpec): Promise<GeoDatabase> {
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

/** Opens the database; a missing or corrupt file answers its GeoDatabaseError as data. */
export async function open(spec: GeoSpec): Promise<TaskOutcome<string>> {
  try {
    return succeeded((await geoDatabase(spec)).description);
  } catch (err) {
    return failed(err);
  }
}

export async function lookup(input: LookupInput): Promise<TaskOutcome<(string | null)[]>> {
  let db: GeoDatabase;
  try {
    db = await geoDatabase(input.spec);
  } catch (err) {
    return failed(err);
  }
  const out = new Array<string | null>(input.ips.length);
  for (let i = 0; i < input.ips.length; i++) out[i] = db.lookup(input.ips[i]!);
  return succeeded(out);
}
