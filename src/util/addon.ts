import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: object | null = null;

/**
 * The native addon's exports, loaded with node-gyp-build (prebuilds/ first, then build/Release) from the package root.
 * Throws when neither loads; a failure is not remembered, so a later call tries again. Each user checks the exports it
 * needs: the relay engine (src/relay/native/binding.ts) and the SO_REUSEPORT listeners (src/listen/reuseport.ts).
 */
export function loadAddonExports(): object {
  if (cached !== null) return cached;
  const require = createRequire(import.meta.url);
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  const addon = nodeGypBuild(packageRoot());
  if (typeof addon !== 'object' || addon === null) throw new Error('the addon loaded as no object');
  cached = addon;
  return cached;
}

/** The package root: the nearest directory above this file holding binding.gyp. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('binding.gyp not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}
