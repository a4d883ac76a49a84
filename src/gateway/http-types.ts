import { IncomingMessage, ServerResponse } from 'node:http';
import type { Exchange } from './exchange.js';
import type { ClientConnection } from './keep-alive.js';

/**
 * The gateway's own request/response classes (passed to `http.createServer`): they carry their Exchange as a
 * declared field, so event listeners can be module-level functions (`this` is the emitter) instead of closures
 * allocated per request.
 */
export class GatewayRequest extends IncomingMessage {
  exchange: Exchange | null = null;
}

export class GatewayResponse extends ServerResponse<GatewayRequest> {
  exchange: Exchange | null = null;
  /** The client connection this response is open on, until its `close`. */
  client: ClientConnection | null = null;
}
