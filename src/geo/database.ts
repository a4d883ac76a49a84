import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Reader, type Response } from 'maxmind';
import { GeoDatabaseError } from '../errors.js';
import { numberToIpv4, parseIp, type IpKey } from '../util/ip.js';
import { parseRangeList, RangeTable } from './ranges.js';

/** What a worker needs to open the same database the main thread was configured with. */
export interface GeoSpec {
  /** 'embedded', a `.mmdb` path, or a range-list file (`CIDR CC` / `start end CC` lines). */
  readonly database: string;
  /** Lists checked before the database: every range in `file` belongs to `country`. */
  readonly lists: readonly { readonly country: string; readonly file: string }[];
  /** The files' fingerprint when opened (geoFilesStamp): a new one makes workers open the files again. */
  readonly stamp?: string;
}

/** An opened database: IP → two-letter country code (upper case) or null. Never throws on lookup. */
export interface GeoDatabase {
  lookup(ip: string): string | null;
  readonly description: string;
}

/** Path of the embedded CC0 country database (@ip-location-db/geo-whois-asn-country-mmdb). */
export function embeddedDatabasePath(): string {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve('@ip-location-db/geo-whois-asn-country-mmdb/package.json'));
  return join(packageDir, 'geo-whois-asn-country.mmdb');
}

type MmdbRecord = {
  country_code?: string; country?: { iso_code?: string }; registered_country?: { iso_code?: string };
};

async function readOrFail(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new GeoDatabaseError(file, e.code === 'ENOENT' ? 'file not found' : `cannot read: ${e.code ?? e.message}`);
  }
}

function openMmdb(file: string, data: Buffer): Reader<Response> {
  let reader: Reader<Response>;
  try {
    reader = new Reader<Response>(data);
    // Metadata parsed; walk the tree once for each family so a truncated or corrupt file fails now, not later.
    reader.get('1.1.1.1');
    if (reader.metadata.ipVersion === 6) reader.get('2001:4860:4860::8888');
  } catch (err) {
    throw new GeoDatabaseError(file, `not a valid MaxMind DB (.mmdb): ${(err as Error).message}`);
  }
  return reader;
}

function countryOf(rec: MmdbRecord | null): string | null {
  if (!rec) return null;
  const cc = rec.country_code ?? rec.country?.iso_code ?? rec.registered_country?.iso_code;
  return typeof cc === 'string' && cc.length === 2 ? cc.toUpperCase() : null;
}

/** Opens every file of the spec; any missing or corrupt file is a GeoDatabaseError naming it. */
export async function openGeoDatabase(spec: GeoSpec): Promise<GeoDatabase> {
  const lists: RangeTable[] = [];
  for (const l of spec.lists) {
    const text = (await readOrFail(l.file)).toString('utf8');
    lists.push(new RangeTable(parseRangeList(text, l.file, l.country.toUpperCase())));
  }
  const file = spec.database === 'embedded' ? embeddedDatabasePath() : spec.database;
  const data = await readOrFail(file);
  let mmdb: Reader<Response> | null = null;
  let table: RangeTable | null = null;
  if (isMmdb(file, data)) mmdb = openMmdb(file, data);
  else {
    if (data.includes(0)) throw new GeoDatabaseError(file, 'neither a MaxMind DB (.mmdb) nor a text range list');
    table = new RangeTable(parseRangeList(data.toString('utf8'), file, null));
  }
  const description =
    `${spec.database === 'embedded' ? `embedded ${file}` : file}${lists.length ? ` + ${lists.length} list(s)` : ''}`;
  return {
    description,
    lookup: function geoLookup(ip: string): string | null {
      const key: IpKey | null = parseIp(ip);
      if (!key) return null;
      for (let i = 0; i < lists.length; i++) {
        const hit = lists[i]!.lookup(key);
        if (hit) return hit;
      }
      if (table) return table.lookup(key);
      try {
        const address = key.v === 4 && ip.includes(':') ? numberToIpv4(key.n) : ip;
        return countryOf(mmdb!.get(address) as unknown as MmdbRecord | null);
      } catch {
        return null;
      }
    },
  };
}

const MMDB_MARKER = Buffer.from('\xab\xcd\xefMaxMind.com', 'latin1');

function isMmdb(file: string, data: Buffer): boolean {
  return file.endsWith('.mmdb') || data.lastIndexOf(MMDB_MARKER) !== -1;
}
