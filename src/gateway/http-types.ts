import { IncomingMessage, ServerResponse } from 'node:http';
import type { Exchange } from './exchange.js';
import type { ClientConnection } from './timers/keep-alive.js';

/**
 * The gateway's own request/response classes (passed to `http.createServer`): they carry their Exchange as a
 * declared field, so the request can hand its body over and the response's listeners can be module-level functions
 * (`this` is the emitter) instead of closures allocated per request.
 */
export class GatewayRequest extends IncomingMessage {
  /** The exchange taking this request's body, until its end. */
  bodyReader: Exchange | null = null;

  /**
   * node:http's parser hands the body to push(): each chunk, then null at its end. While an exchange reads the body,
   * they go to it at once, in the parser's callback: no 'data' and 'end' listeners, no stream buffer, and none of
   * the process.nextTick hops a flowing stream takes from resume() to 'close' (1.7 µs less a request on the bench's
   * chat load, pinned A/B). The stream itself is still told its end.
   */
  override push(chunk: Buffer | null, encoding?: BufferEncoding): boolean {
    const exchange = this.bodyReader;
    if (exchange === null) return super.push(chunk, encoding);
    if (chunk !== null) {
      exchange.onBodyChunk(chunk);
      return true;
    }
    this.bodyReader = null;
    super.push(null);
    exchange.onBodyEnd();
    return false;
  }
}

export class GatewayResponse extends ServerResponse<GatewayRequest> {
  exchange: Exchange | null = null;
  /** The client connection this response is open on, until its `close`. */
  client: ClientConnection | null = null;
}
