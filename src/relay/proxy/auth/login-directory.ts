import { createHash, scrypt, timingSafeEqual } from 'node:crypto';
import type { UserConfig } from '../../../config/schema.js';
import { LruCache } from '../../../util/lru-cache.js';
import { parseScryptHash, type ScryptHash } from '../../../util/scrypt-hash.js';

/** Verified hashed logins remembered: repeated connections with them cost one lookup, not one scrypt. */
const VERIFIED_CACHE_SIZE = 1024;

interface Login {
  readonly userId: string;
  /** SHA-256 of the clear password, compared in constant time; null for a hashed one. */
  readonly digest: Buffer | null;
  readonly hash: ScryptHash | null;
}

/** A client's proxy credentials as it sent them (SOCKS5 username/password or Basic). */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/**
 * The `users[].proxy` logins of one config: username → user. Clear passwords are compared as SHA-256 digests in
 * constant time; scrypt hashes are checked with the asynchronous `crypto.scrypt` (libuv's pool, never the event
 * loop), and a login that verified is remembered in a bounded LRU keyed by a digest of username and password (the
 * password itself is never kept), so only the first connection with it pays for scrypt. Concurrent checks of the
 * same login share one scrypt.
 */
export class LoginDirectory {
  private readonly logins = new Map<string, Login>();
  private readonly verified = new LruCache<string>(VERIFIED_CACHE_SIZE);
  private readonly inFlight = new Map<string, Promise<string | null>>();

  constructor(users: readonly UserConfig[]) {
    for (const user of users) {
      const login = user.proxy;
      if (login === null) continue;
      const parsed = login.passwordHash === null ? null : parseScryptHash(login.passwordHash);
      this.logins.set(login.username, {
        userId: user.id,
        digest: login.password === null ? null : sha256(login.password),
        hash: typeof parsed === 'object' ? parsed : null,
      });
    }
  }

  get size(): number {
    return this.logins.size;
  }

  /** The user these credentials log in as, or null; a promise only when an uncached scrypt hash must be checked. */
  verify(credentials: Credentials): string | null | Promise<string | null> {
    const login = this.logins.get(credentials.username);
    if (login === undefined) return null;
    if (login.digest !== null) return timingSafeEqual(login.digest, sha256(credentials.password)) ? login.userId : null;
    if (login.hash === null) return null;
    const key = cacheKey(credentials);
    const known = this.verified.get(key);
    if (known !== undefined) return known;
    let pending = this.inFlight.get(key);
    if (pending === undefined) {
      pending = this.checkHash(login, login.hash, credentials.password, key);
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  caches(): Record<string, number> {
    const v = this.verified;
    return { size: v.size, max: v.max, hits: v.hits, misses: v.misses };
  }

  private async checkHash(login: Login, hash: ScryptHash, password: string, key: string): Promise<string | null> {
    try {
      const derived = await scryptAsync(password, hash);
      if (derived.length !== hash.hash.length || !timingSafeEqual(derived, hash.hash)) return null;
      this.verified.set(key, login.userId);
      return login.userId;
    } finally {
      this.inFlight.delete(key);
    }
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Username and password length-prefixed, so "a:b" + "c" and "a" + "b:c" differ. */
function cacheKey(c: Credentials): string {
  return createHash('sha256').update(`${c.username.length}:${c.username}:${c.password}`, 'utf8').digest('base64');
}

function scryptAsync(password: string, hash: ScryptHash): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const options = { N: hash.N, r: hash.r, p: hash.p, maxmem: hash.maxmem };
    scrypt(password, hash.salt, hash.hash.length, options, function scryptDone(err, key) {
      if (err !== null) reject(err);
      else resolve(key);
    });
  });
}
