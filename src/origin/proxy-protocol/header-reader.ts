import type { Socket } from 'node:net';
import { ProxyProtocolError } from '../../errors.js';
import { parseProxyHeader, PP_MORE, ProxyHeader } from './parse.js';

/** Hears once how reading a client's PROXY header went. */
export interface HeaderListener {
  headerRead(client: Socket, header: ProxyHeader): void;
  headerFailed(client: Socket, err: ProxyProtocolError): void;
}

/**
 * Reads a PROXY protocol header off a paused client, with a deadline. Whatever the client sent after the header is
 * put back (`unshift`) and the socket is paused again, so the service sees a fresh connection from the real client.
 * Once per connection of a listener that accepts the header; never on the relay path.
 */
export class HeaderReader {
  private readonly client: Socket;
  private readonly listener: HeaderListener;
  private buffered: Buffer | null = null;
  private timer: NodeJS.Timeout | null;
  private done = false;
  private readonly onReadable: () => void;
  private readonly onGone: () => void;

  constructor(client: Socket, timeoutMs: number, listener: HeaderListener) {
    this.client = client;
    this.listener = listener;
    this.onReadable = (): void => this.read();
    this.onGone = (): void => this.fail('malformed', 'the client closed before its PROXY header was complete');
    this.timer = setTimeout(headerTimedOut, timeoutMs, this);
    client.on('readable', this.onReadable);
    client.on('end', this.onGone);
    client.on('error', this.onGone);
  }

  /** @internal the deadline passed */
  timedOut(): void {
    this.timer = null;
    this.fail('timeout', 'no complete PROXY header in time');
  }

  private read(): void {
    let chunk: Buffer | null;
    while (!this.done && (chunk = this.client.read() as Buffer | null) !== null) {
      this.buffered = this.buffered === null ? chunk : Buffer.concat([this.buffered, chunk]);
      const outcome = parseProxyHeader(this.buffered);
      if (outcome === PP_MORE) continue;
      if (outcome instanceof ProxyHeader) {
        this.finish();
        const rest = this.buffered.subarray(outcome.length);
        this.buffered = null;
        this.client.pause();
        if (rest.length > 0) this.client.unshift(rest);
        this.listener.headerRead(this.client, outcome);
        return;
      }
      this.fail('malformed', outcome.malformed);
    }
  }

  private fail(reason: 'malformed' | 'timeout', message: string): void {
    if (this.done) return;
    this.finish();
    this.buffered = null;
    this.listener.headerFailed(this.client, new ProxyProtocolError(reason, message));
  }

  private finish(): void {
    this.done = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.client.removeListener('readable', this.onReadable);
    this.client.removeListener('end', this.onGone);
    this.client.removeListener('error', this.onGone);
  }
}

function headerTimedOut(reader: HeaderReader): void {
  reader.timedOut();
}
