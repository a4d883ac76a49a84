import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh directory under the system temp dir. */
export function tempDir(prefix = 'tidegate-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
