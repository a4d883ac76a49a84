export {
  createCredentialIndex, DEFAULT_CREDENTIAL_TTL_MS, type CredentialIndex, type CredentialIndexOptions,
  type CredentialIndexStats,
} from './credential-index.js';
export { scanCredentialDir, DEFAULT_SCAN_CONCURRENCY } from './scan.js';
export type { CredentialEntry, CredentialIndexData, InvalidCredential } from './types.js';
export { scanInPool } from './offload.js';
