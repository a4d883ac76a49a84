import type { LookupAddress } from 'node:dns';
import { connect, isIP, type LookupFunction, type Socket } from 'node:net';
import { ConnectTimeoutError } from '../errors.js';
import type { DialOptions } from '../contracts/relay-engine.js';
import type { HostPort } from '../util/address.js';

/** Receives the outcome of a `DialAttempt` exactly once: a connected socket, or the error. */
export interface DialListener {
  dialed(attempt: DialAttempt, socket: Socket): void;
  dialFailed(attempt: DialAttempt, err: Error): void;
}

/**
 * One connect with a deadline, reported to a listener object (no Promise, no AbortController: the forward
 * service's per-connection path). The connected socket allows half-open and has TCP_NODELAY and keep-alive applied.
 */
export class DialAttempt {
  readonly socket: Socket;
  readonly address: HostPort;
  readonly timeoutMs: number;
  private listener: DialListener | null;
  private timer: NodeJS.Timeout | null;
  /** The socket's 'connect' and 'error' listener: the one closure an attempt needs. */
  private readonly settle: (err?: Error) => void;

  /**
   * `addresses`: the checked addresses of `address.host` (a name) when it has more than one; Node's happy
   * eyeballs (`autoSelectFamily`) then tries them, both families interleaved, and never looks the name up again.
   */
  constructor(
    address: HostPort, options: DialOptions, listener: DialListener, addresses: readonly string[] | null = null,
  ) {
    this.address = address;
    this.timeoutMs = options.timeoutMs;
    this.listener = listener;
    const several = addresses !== null && addresses.length > 1;
    this.socket = connect({
      host: several ? address.host : addresses?.[0] ?? address.host,
      port: address.port,
      allowHalfOpen: true,
      noDelay: options.noDelay,
      keepAlive: options.keepAliveMs > 0,
      keepAliveInitialDelay: options.keepAliveMs,
      ...(several ? { autoSelectFamily: true, lookup: fixedLookup(addresses) } : {}),
    });
    this.settle = (err?: Error): void => this.finish(err ?? null);
    this.socket.on('connect', this.settle);
    this.socket.on('error', this.settle);
    this.timer = setTimeout(dialTimedOut, options.timeoutMs, this);
  }

  /** Abandons the attempt: the socket is destroyed and the listener is not called. Idempotent. */
  cancel(): void {
    if (this.listener === null) return;
    this.listener = null;
    this.detach();
    this.socket.destroy();
  }

  /** @internal the deadline passed */
  timedOut(): void {
    this.timer = null;
    const listener = this.listener;
    if (listener === null) return;
    this.listener = null;
    this.detach();
    this.socket.destroy();
    listener.dialFailed(this, new ConnectTimeoutError(
      `connect to ${this.address.host}:${this.address.port} timed out after ${this.timeoutMs} ms`,
    ));
  }

  private finish(err: Error | null): void {
    const listener = this.listener;
    if (listener === null) return;
    this.listener = null;
    this.detach();
    if (err === null) {
      listener.dialed(this, this.socket);
    } else {
      this.socket.destroy();
      listener.dialFailed(this, err);
    }
  }

  private detach(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.socket.removeListener('connect', this.settle);
    this.socket.removeListener('error', this.settle);
  }
}

/** A lookup answering with addresses resolved (and checked) already: only for a name with several. */
function fixedLookup(addresses: readonly string[]): LookupFunction {
  const all: LookupAddress[] = addresses.map(toLookupAddress);
  return function answerResolved(_name, options, callback): void {
    if (options.all === true) (callback as (e: null, a: LookupAddress[]) => void)(null, all);
    else callback(null, all[0]!.address, all[0]!.family);
  };
}

function toLookupAddress(address: string): LookupAddress {
  return { address, family: isIP(address) };
}

function dialTimedOut(attempt: DialAttempt): void {
  attempt.timedOut();
}

/**
 * Connects to `address` with a deadline. Resolves with a connected socket (half-open allowed, TCP_NODELAY and
 * keep-alive applied) or rejects; `abort` (the client went away) cancels the attempt.
 */
export function dial(
  address: HostPort, options: DialOptions, abort: AbortSignal, addresses: readonly string[] | null = null,
): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const listener: DialListener = {
      dialed(_attempt, socket) {
        abort.removeEventListener('abort', onAbort);
        resolve(socket);
      },
      dialFailed(_attempt, err) {
        abort.removeEventListener('abort', onAbort);
        reject(err);
      },
    };
    const attempt = new DialAttempt(address, options, listener, addresses);
    function onAbort(): void {
      attempt.cancel();
      reject(abort.reason as Error);
    }
    abort.addEventListener('abort', onAbort, { once: true });
  });
}
