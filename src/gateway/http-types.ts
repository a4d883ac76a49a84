import { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientConnection } from './timers/keep-alive.js';

/** Takes a request body as node:http's parser hands it over (the exchange's BodyIntake). */
export interface BodyReader {
  onBodyChunk(chunk: Buffer): void;
  onBodyEnd(): void;
}

/** What a response's module-level listeners reach: the exchange answering on it. */
export interface ResponseOwner {
  readonly finished: boolean;
  /** The response closed before the exchange finished. */
  onClientClose(): void;
  /** The client's socket drained. */
  onDrain(): void;
}

/**
 * The gateway's own request/response classes (passed to `http.createServer`): they carry their exchange as a
 * declared field, so the request can hand its body over and the response's listeners can be module-level functions
 * (`this` is the emitter) instead of closures allocated per request.
 */
export class GatewayRequest extends IncomingMessage {
  /** The reader taking this request's body, until its end. */
  bodyReader: BodyReader | null = null;
  /** The client address a trusted PROXY header named; null: the socket's own. */
  origin: string | null = null;

  /**
   * node:http's parser hands the body to push(): each chunk, then null at its end. While a reader takes the body,
   * they go to it at once, in the parser's callback: no 'data' and 'end' listeners, no stream buffer, and none of
   * the process.nextTick hops a flowing stream takes from resume() to 'close' (1.7 µs less a request on the bench's
   * chat load, pinned A/B). The stream itself is still told its end.
   */
  override push(chunk: Buffer | null, encoding?: BufferEncoding): boolean {
    const reader = this.bodyReader;
    if (reader === null) return super.push(chunk, encoding);
    if (chunk !== null) {
      reader.onBodyChunk(chunk);
      return true;
    }
    this.bodyReader = null;
    super.push(null);
    reader.onBodyEnd();
    return false;
  }
}

export class GatewayResponse extends ServerResponse<GatewayRequest> {
  exchange: ResponseOwner | null = null;
  /** The client connection this response is open on, until its `close`. */
  client: ClientConnection | null = null;
}

/** The client's socket drained (module level: `this` is the response, no closure per request). */
export function onResponseDrain(this: GatewayResponse): void {
  this.exchange?.onDrain();
}
