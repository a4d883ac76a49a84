import { stat } from 'node:fs/promises';
import type { GeoConfig } from '../config/types.js';

/**
 * A fingerprint of the files a geo config reads (list files and a non-embedded database): size, mtime and inode of
 * each. A reload compares it, so an edited `geo.lists` file is re-read although the config did not change.
 */
export async function geoFilesStamp(config: GeoConfig): Promise<string> {
  const files = config.lists.map((l) => l.file);
  if (config.database !== 'embedded') files.push(config.database);
  const parts = await Promise.all(files.map(async function fileStamp(file) {
    try {
      const s = await stat(file);
      return `${s.size}:${s.mtimeMs}:${s.ino}`;
    } catch (err) {
      return `missing:${(err as NodeJS.ErrnoException).code ?? ''}`;
    }
  }));
  return parts.join('|');
}
