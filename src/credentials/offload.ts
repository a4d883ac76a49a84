/** The main thread's side of the credentials' pool task (tasks.ts): directory scans never run on the event loop. */
import type { WorkerPool } from '../pool/pool.js';
import { defineTask } from '../pool/task.js';
import { DEFAULT_SCAN_CONCURRENCY } from './scan.js';
import type { CredentialIndexData } from './types.js';

export interface ScanInput {
  readonly dir: string;
  /** Only these files (relative paths); null: the whole directory. */
  readonly files: readonly string[] | null;
  readonly concurrency: number;
}

export const SCAN_TASK = defineTask<ScanInput, CredentialIndexData>(new URL('./tasks.js', import.meta.url), 'scan');

/** Whole directory when `files` is omitted; else only those files. Rejects with CredentialsDirError. */
export function scanInPool(
  pool: WorkerPool, dir: string, files?: readonly string[], opts: { concurrency?: number } = {},
): Promise<CredentialIndexData> {
  return pool.run(SCAN_TASK, { dir, files: files ?? null, concurrency: opts.concurrency ?? DEFAULT_SCAN_CONCURRENCY });
}
