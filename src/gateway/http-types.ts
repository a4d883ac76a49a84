import { IncomingMessage, ServerResponse } from 'node:http';
import type { Exchange } from './exchange.js';

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
}
