import type { CredentialIndexData } from './types.js';

/** What the credential index needs from the worker pool (which implements it): directory scans off-thread. */
export interface CredentialScanPool {
  /** Scans `dir` (only `files` when given) and resolves with what the index keeps. */
  scanCredentials(
    dir: string, files?: readonly string[], opts?: { concurrency?: number },
  ): Promise<CredentialIndexData>;
}
