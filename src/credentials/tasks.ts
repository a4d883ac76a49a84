/**
 * The credentials' pool task (runs in workers as dist/src/credentials/tasks.js; the main thread's side: offload.ts).
 */
import { failed, succeeded, type TaskOutcome } from '../pool/task.js';
import type { ScanInput } from './offload.js';
import { scanCredentialDir } from './scan.js';
import type { CredentialIndexData } from './types.js';

/** A directory that cannot be scanned answers its CredentialsDirError as data. */
export async function scan(input: ScanInput): Promise<TaskOutcome<CredentialIndexData>> {
  try {
    return succeeded(await scanCredentialDir(input.dir, input.files, input.concurrency));
  } catch (err) {
    return failed(err);
  }
}
