/** One usable OAuth credential file. */
export interface CredentialEntry {
  readonly accountId: string;
  /** Path relative to the scanned directory, with `/` separators. */
  readonly file: string;
  readonly provider: string;
  /** Access-token expiry (epoch ms), or null when the file does not say. */
  readonly expiresAt: number | null;
  /** sha256 (hex) of the refresh token: identifies the grant without keeping the secret in the index. */
  readonly refreshTokenSha256: string;
}

/** A file that was skipped, and why. */
export interface InvalidCredential {
  readonly file: string;
  readonly reason: string;
}

/** Result of a scan (whole directory, or only the files asked for). */
export interface CredentialIndexData {
  readonly dir: string;
  readonly scannedAt: number;
  readonly entries: CredentialEntry[];
  readonly invalid: InvalidCredential[];
  /** For partial scans: files asked for that no longer exist (the index drops them). */
  readonly missing: string[];
  /** Whole-directory scan (the index replaces itself) or a partial one (the index patches itself). */
  readonly complete: boolean;
}
