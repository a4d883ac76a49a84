import { Agent, type ClientRequestArgs } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Where a request's options carry its OriginDial (Node's agent passes the request options through). */
export const ORIGIN_KEY = Symbol('tidegate.origin');

/** How an agent's socket is opened: a key for keep-alive reuse and the dial. */
export interface OriginDial {
  readonly key: string;
  readonly open: () => Promise<Socket>;
}

function originOf(options: ClientRequestArgs): OriginDial {
  return (options as unknown as Record<symbol, OriginDial>)[ORIGIN_KEY]!;
}

/** Keep-alive connections to origins (and to an upstream HTTP proxy), pooled by where and how they are dialled. */
export class OriginAgent extends Agent {
  override getName(options: ClientRequestArgs): string {
    return originOf(options).key;
  }

  // Node's Agent takes a callback-style createConnection: return nothing, call back once connected.
  override createConnection(
    options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): undefined {
    originOf(options).open().then(
      function originDialed(socket) {
        // A tunnel through a SOCKS5 upstream comes back paused (its handshake reader let go): the client reads it.
        socket.resume();
        callback!(null, socket);
      },
      function originFailed(err: Error) {
        callback!(err, undefined as unknown as Duplex);
      },
    );
    return undefined;
  }
}
