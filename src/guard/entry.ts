import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { InternalError } from '../errors.js';
import type { Logger } from '../log.js';
import { describeError } from './describe-error.js';

/**
 * The last resort around a service's entry point: a handler that throws synchronously loses its own connection,
 * never the process. The wrapper is made once per server (no allocation per connection); the try/catch around
 * one call costs nothing measurable. It is not the fix: handlers answer bad input themselves. `onFault` hears of each
 * escaped error after the connection is closed (the service's graduated recovery).
 */
export function guardConnection(
  service: string, log: Logger, onConnection: (socket: Socket) => void, onFault: FaultListener | null = null,
): (socket: Socket) => void {
  return function guardedConnection(socket: Socket): void {
    try {
      onConnection(socket);
    } catch (err) {
      reportEscaped(service, log, err);
      socket.destroy();
      if (onFault !== null) onFault(err);
    }
  };
}

/** Hears of an error a service's handler let escape. */
export type FaultListener = (err: unknown) => void;

/** The same for an HTTP request listener: the client gets a bare 500 (nothing of the error) and the connection ends. */
export function guardRequest<Q extends IncomingMessage, S extends ServerResponse>(
  service: string,
  log: Logger,
  onRequest: (req: Q, res: S) => void,
  onFault: FaultListener | null = null,
): (req: Q, res: S) => void {
  return function guardedRequest(req: Q, res: S): void {
    try {
      onRequest(req, res);
    } catch (err) {
      reportEscaped(service, log, err);
      answerInternalError(res);
      if (onFault !== null) onFault(err);
    }
  };
}

const INTERNAL_BODY = JSON.stringify({ error: { code: InternalError.code, message: 'internal error' } });

function answerInternalError(res: ServerResponse): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  try {
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.writeHead(500, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(INTERNAL_BODY),
      connection: 'close',
    });
    res.end(INTERNAL_BODY);
  } catch {
    res.destroy();
  }
}

function reportEscaped(service: string, log: Logger, err: unknown): void {
  log.error(
    { service, error: describeError(err) }, 'unexpected exception in a connection handler: that connection is closed',
  );
}
