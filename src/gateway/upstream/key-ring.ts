/** One upstream credential a channel can send: an API key or an OAuth account's access token. */
export class UpstreamCredential {
  readonly id: string;
  /** The secret as sent (API key or access token). */
  readonly secret: string;
  /** `Bearer <secret>`, precomputed. */
  readonly bearer: string;
  /** Whether the secret is an OAuth access token (Anthropic then wants `authorization`, not `x-api-key`). */
  readonly oauth: boolean;
  /** Epoch ms after which the credential is expired (OAuth), or Infinity. */
  readonly expiresAt: number;
  /** Skipped until this time after the upstream refused it (401/403). */
  disabledUntil = 0;
  failures = 0;
  lastError: string | null = null;

  constructor(id: string, secret: string, oauth: boolean, expiresAt: number) {
    this.id = id;
    this.secret = secret;
    this.bearer = 'Bearer ' + secret;
    this.oauth = oauth;
    this.expiresAt = expiresAt;
  }
}

/**
 * Rotates through a channel's credentials (round-robin), skipping the ones that are expired or were refused
 * recently. Replaced wholesale when the credential set changes (reload, directory rescan).
 */
export class KeyRing {
  private credentials: readonly UpstreamCredential[];
  private cursor = 0;
  /** Every secret of the ring, for redacting upstream error text (built when the ring changes, not per error). */
  private secretList: readonly string[];

  constructor(credentials: readonly UpstreamCredential[]) {
    this.credentials = credentials;
    this.secretList = credentials.map((c) => c.secret);
  }

  secrets(): readonly string[] {
    return this.secretList;
  }

  get size(): number {
    return this.credentials.length;
  }

  replace(credentials: readonly UpstreamCredential[]): void {
    // Keep the failure state of credentials that stay.
    const old = new Map(this.credentials.map((c) => [c.id + '\0' + c.secret, c]));
    this.credentials = credentials.map((c) => old.get(c.id + '\0' + c.secret) ?? c);
    this.secretList = this.credentials.map((c) => c.secret);
    this.cursor = 0;
  }

  /** The next usable credential, or null when every one is expired or refused. */
  next(now: number): UpstreamCredential | null {
    const list = this.credentials;
    const n = list.length;
    for (let k = 0; k < n; k++) {
      const c = list[this.cursor]!;
      this.cursor = this.cursor + 1 === n ? 0 : this.cursor + 1;
      if (c.disabledUntil <= now && c.expiresAt > now) return c;
    }
    return null;
  }

  /** Whether some credential is usable now (for eligibility checks without rotating). */
  hasUsable(now: number): boolean {
    const list = this.credentials;
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      if (c.disabledUntil <= now && c.expiresAt > now) return true;
    }
    return false;
  }

  /** The upstream refused this credential: skip it for `forMs`. */
  refuse(c: UpstreamCredential, now: number, forMs: number, reason: string): void {
    c.disabledUntil = now + forMs;
    c.failures++;
    c.lastError = reason;
  }

  snapshot(now: number): Record<string, unknown> {
    let usable = 0;
    const skipped: { id: string; reason: string }[] = [];
    for (const c of this.credentials) {
      if (c.expiresAt <= now) {
        skipped.push({ id: c.id, reason: 'expired' });
      } else if (c.disabledUntil > now) {
        skipped.push({ id: c.id, reason: `refused by upstream: ${c.lastError ?? 'error'}` });
      } else {
        usable++;
      }
    }
    return { total: this.credentials.length, usable, skipped };
  }
}
