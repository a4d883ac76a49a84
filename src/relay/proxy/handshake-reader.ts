import type { Socket } from 'node:net';
import { ProxyHandshakeError } from '../../errors.js';

/** A parser step: the value and how many bytes it used, or null when it needs more bytes. Throws on bad input. */
export type Parse<T> = (buffer: Buffer) => { readonly value: T; readonly used: number } | null;

/**
 * Reads a protocol handshake from a socket: bytes accumulate until a parser accepts them. `release()` detaches it
 * and returns bytes that arrived after the handshake, which belong to the relayed stream. Bounded: at `maxBytes`
 * the socket is paused (a parser bounds its own message, so what is buffered can still be a handshake followed by
 * early data); a parser that still wants more then fails the handshake.
 */
export class HandshakeReader {
  private buffer: Buffer = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  private readonly socket: Socket;
  private readonly maxBytes: number;
  private readonly timer: NodeJS.Timeout;

  constructor(socket: Socket, maxBytes: number, timeoutMs: number, what: string) {
    this.socket = socket;
    this.maxBytes = maxBytes;
    this.onData = this.onData.bind(this);
    this.onEnd = this.onEnd.bind(this);
    this.onError = this.onError.bind(this);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    const reader = this;
    this.timer = setTimeout(function handshakeTimedOut() {
      reader.fail(new ProxyHandshakeError(`${what} handshake not completed within ${timeoutMs} ms`, 'timeout'));
    }, timeoutMs);
    socket.resume();
  }

  async read<T>(parse: Parse<T>): Promise<T> {
    for (;;) {
      const parsed = parse(this.buffer);
      if (parsed !== null) {
        this.buffer = this.buffer.subarray(parsed.used);
        if (this.buffer.length < this.maxBytes && this.failure === null) this.socket.resume();
        return parsed.value;
      }
      if (this.failure !== null) throw this.failure;
      if (this.buffer.length >= this.maxBytes) {
        throw new ProxyHandshakeError(`handshake larger than ${this.maxBytes} bytes`, 'too_large');
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Stops reading; the returned bytes were sent after the handshake and must be relayed first. */
  release(): Buffer {
    clearTimeout(this.timer);
    this.socket.pause();
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('end', this.onEnd);
    this.socket.removeListener('error', this.onError);
    return this.buffer;
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    if (this.buffer.length >= this.maxBytes) this.socket.pause();
    this.notify();
  }

  private onEnd(): void {
    this.fail(new ProxyHandshakeError('peer closed during the handshake', 'peer_closed'));
  }

  private onError(err: Error): void {
    this.fail(err);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    if (wake !== null) wake();
  }
}
