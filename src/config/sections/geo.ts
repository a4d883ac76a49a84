import { DEFAULTS } from '../defaults.js';
import type { GeoConfig } from '../types.js';
import { join, type Reader } from '../validator.js';

/** `geo:`: the country database, extra list files and the lookup cache. */
export function readGeo(r: Reader, value: unknown): GeoConfig {
  const o = r.object('geo', value, ['database', 'lists', 'cacheSize']);
  const lists = r.list('geo.lists', o.lists).map((item, i) => {
    const path = join('geo.lists', i);
    const l = r.object(path, item, ['country', 'file']);
    const country = r.requiredString(join(path, 'country'), l.country).toUpperCase();
    if (country && !/^[A-Z]{2}$/.test(country)) {
      r.fail(join(path, 'country'), `expected a two-letter country code, got "${country}"`);
    }
    return { country, file: r.requiredString(join(path, 'file'), l.file) };
  });
  return {
    database: r.string('geo.database', o.database, DEFAULTS.geo.database),
    lists,
    cacheSize: r.integer('geo.cacheSize', o.cacheSize, DEFAULTS.geo.cacheSize, 0, 10_000_000),
  };
}
