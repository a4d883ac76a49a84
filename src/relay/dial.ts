import { connect, type Socket } from 'node:net';
import { ConnectTimeoutError } from '../errors.js';
import type { HostPort } from '../util/address.js';

export interface DialOptions {
  readonly timeoutMs: number;
  readonly noDelay: boolean;
  readonly keepAliveMs: number;
}

/**
 * Connects to `address` with a deadline. Resolves with a connected socket (half-open allowed, TCP_NODELAY and
 * keep-alive applied) or rejects; `abort` (the client went away) cancels the attempt.
 */
export function dial(address: HostPort, options: DialOptions, abort: AbortSignal): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({
      host: address.host,
      port: address.port,
      allowHalfOpen: true,
      noDelay: options.noDelay,
      keepAlive: options.keepAliveMs > 0,
      keepAliveInitialDelay: options.keepAliveMs,
    });
    const timer = setTimeout(function connectTimedOut() {
      socket.destroy();
      reject(new ConnectTimeoutError(`connect to ${address.host}:${address.port} timed out after ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    function onAbort(): void {
      clearTimeout(timer);
      socket.destroy();
      reject(abort.reason as Error);
    }
    abort.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', function connected() {
      clearTimeout(timer);
      abort.removeEventListener('abort', onAbort);
      socket.removeListener('error', failed);
      resolve(socket);
    });
    socket.once('error', failed);
    function failed(err: Error): void {
      clearTimeout(timer);
      abort.removeEventListener('abort', onAbort);
      reject(err);
    }
  });
}
