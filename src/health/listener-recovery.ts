import { Server } from 'node:net';
import { listenService } from '../listen/listen.js';
import type { Logger } from '../log.js';

/** Back-off between re-bind attempts: doubles from the first to the last. */
const FIRST_RETRY_MS = 100;
const LAST_RETRY_MS = 30_000;

/** What `/status` shows of a service's listener recoveries. */
export interface RecoveryStatus {
  readonly recoveries: number;
  readonly rebinding: boolean;
  readonly attempts: number;
  readonly lastError: string | null;
}

/**
 * Re-binds one service's listener after it failed (an address that went away, an accept error that is not EMFILE),
 * with back-off, while that service's live connections go on and every other service is untouched. The process is
 * never restarted for it. Each step is logged; `recoveries` counts listeners bound again.
 */
export class ListenerRecovery {
  /** The service's current server (a handler restart replaces it). */
  private readonly server: () => Server;
  private readonly service: string;
  private readonly log: () => Logger;
  private readonly listenOptions: () => { host: string; port: number };
  recoveries = 0;
  rebinding = false;
  attempts = 0;
  lastError: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    server: () => Server, service: string, log: () => Logger, listenOptions: () => { host: string; port: number },
  ) {
    this.server = server;
    this.service = service;
    this.log = log;
    this.listenOptions = listenOptions;
  }

  /** The listener failed: close it and bind it again after a back-off (once per failure spell). */
  failed(err: NodeJS.ErrnoException): void {
    this.lastError = err.code ?? err.message;
    if (this.rebinding || this.stopped) return;
    this.rebinding = true;
    this.attempts = 0;
    this.log().error({ service: this.service, code: err.code, err: err.message }, 'listener failed; re-binding it');
    // net's close (not node:http's, which would also end idle keep-alive connections): live connections go on.
    Server.prototype.close.call(this.server());
    this.schedule();
  }

  /** The service stops: no more attempts. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  status(): RecoveryStatus {
    const { recoveries, rebinding, attempts, lastError } = this;
    return { recoveries, rebinding, attempts, lastError };
  }

  private schedule(): void {
    const delay = Math.min(LAST_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(this.attempts, 16));
    this.timer = setTimeout(rebindNow, delay, this);
  }

  /** @internal the back-off passed */
  rebind(): void {
    this.timer = null;
    if (this.stopped) return;
    this.attempts++;
    const server = this.server();
    const onError = (err: NodeJS.ErrnoException): void => {
      server.removeListener('listening', onListening);
      this.lastError = err.code ?? err.message;
      this.log().warn(
        { service: this.service, attempt: this.attempts, code: err.code }, 'listener re-bind failed; retrying',
      );
      if (!this.stopped) this.schedule();
    };
    const onListening = (): void => {
      server.removeListener('error', onError);
      this.rebinding = false;
      this.recoveries++;
      this.log().info({ service: this.service, attempts: this.attempts }, 'listener bound again');
    };
    // prependOnceListener: the service's own 'error' handler must not treat a failed re-bind as a new failure.
    server.prependOnceListener('error', onError);
    server.once('listening', onListening);
    const { host, port } = this.listenOptions();
    listenService(server, this.service, host, port, 4096);
  }
}

function rebindNow(recovery: ListenerRecovery): void {
  recovery.rebind();
}
