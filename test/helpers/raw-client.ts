import { connect, type Socket } from 'node:net';
import { chat } from './llm.js';

/** A raw keep-alive client: one socket, requests written by hand, answers read by their content-length. */
export class RawClient {
  readonly socket: Socket;
  closedAt: number | null = null;
  private buffered = Buffer.alloc(0);
  private waiting: (() => void) | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closedAt = Date.now();
      this.waiting?.();
    });
  }

  static async open(url: string): Promise<RawClient> {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawClient(socket);
  }

  /** Writes raw bytes (a request, or part of one). */
  send(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** Sends one chat request and resolves with the answer's status and body. */
  async chat(model: string): Promise<{ status: number; body: string }> {
    const body = JSON.stringify(chat(model));
    const head = 'POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n';
    this.socket.write(`${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    return this.read();
  }

  /** Reads the next answer (by its content-length). */
  async read(): Promise<{ status: number; body: string }> {
    for (;;) {
      const head = this.buffered.indexOf('\r\n\r\n');
      if (head !== -1) {
        const headers = this.buffered.toString('latin1', 0, head);
        const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? NaN);
        if (this.buffered.length >= head + 4 + length) {
          const body = this.buffered.toString('utf8', head + 4, head + 4 + length);
          const answer = { status: Number(headers.split(' ')[1]), body };
          this.buffered = this.buffered.subarray(head + 4 + length);
          return answer;
        }
      }
      if (this.closedAt !== null) throw new Error('connection closed before the answer was complete');
      await new Promise<void>((resolve) => { this.waiting = resolve; });
      this.waiting = null;
    }
  }

  /** Resolves when the server closes the connection, or after `ms`; true when it closed. */
  closedWithin(ms: number): Promise<boolean> {
    if (this.closedAt !== null) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onClose = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.socket.removeListener('close', onClose);
        resolve(false);
      }, ms);
      this.socket.once('close', onClose);
    });
  }
}
