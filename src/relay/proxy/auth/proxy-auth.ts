import { setTimeout as sleep } from 'node:timers/promises';
import { ProxyAuthError } from '../../../errors.js';
import { FailureThrottle } from './failure-throttle.js';
import type { Credentials, LoginDirectory } from './login-directory.js';

/**
 * Client logins of one proxy service (`auth: users`): credentials → user id, with wrong ones counted per client
 * address and their refusal delayed after repeated failures. The directory is replaced on reload; the failure
 * counts are kept.
 */
export class ProxyAuth {
  directory: LoginDirectory;
  readonly throttle = new FailureThrottle();
  ok = 0;

  constructor(directory: LoginDirectory) {
    this.directory = directory;
  }

  /**
   * The user id, or throws a ProxyAuthError (after the back-off for `address`, if it has failed often). The error's
   * message never contains the password.
   */
  async login(credentials: Credentials | ProxyAuthError, address: string): Promise<string> {
    let userId: string | null = null;
    if (!(credentials instanceof ProxyAuthError)) {
      const found = this.directory.verify(credentials);
      userId = found === null || typeof found === 'string' ? found : await found;
    }
    if (userId !== null) {
      this.ok++;
      this.throttle.success(address);
      return userId;
    }
    const err = credentials instanceof ProxyAuthError
      ? credentials
      : new ProxyAuthError(`wrong username or password for "${printable(credentials.username)}"`, false);
    // A client that sent nothing yet (the usual first request of a browser) is not guessing: no back-off.
    if (!err.missing) {
      const delay = this.throttle.failure(address);
      if (delay > 0) await sleep(delay);
    }
    throw err;
  }

  status(): Record<string, number> {
    const t = this.throttle;
    return { ok: this.ok, failed: t.failed, slowed: t.slowed, addresses: t.tracked, logins: this.directory.size };
  }
}

function printable(text: string): string {
  return text.slice(0, 64).replace(/[^\x20-\x7e]/g, '?');
}
