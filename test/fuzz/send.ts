import { connect } from 'node:net';
import type { FuzzInput } from './target.js';

/** What became of one input: the server answered, closed, or did neither in time (a hang). */
export interface Outcome {
  readonly answered: boolean;
  readonly closed: boolean;
  readonly hung: boolean;
}

/**
 * Writes the input's chunks (a turn of the event loop apart, so they can arrive as separate reads), half-closes
 * and waits for the server to close. A held-open input is destroyed after a short wait instead: the server must
 * clean up after a client that vanishes mid-request.
 */
export function send(port: number, input: FuzzInput, hangMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let answered = false;
    let done = false;
    const finish = (closed: boolean, hung: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ answered, closed, hung });
    };
    const timer = setTimeout(() => finish(false, !input.holdOpen), input.holdOpen ? 200 : hangMs);
    socket.on('data', () => (answered = true));
    socket.on('end', () => finish(true, false));
    socket.on('close', () => finish(true, false));
    socket.on('error', () => finish(true, false));
    let i = 0;
    const writeNext = (): void => {
      if (done) return;
      if (i < input.chunks.length) {
        socket.write(input.chunks[i++]!, () => setImmediate(writeNext));
        return;
      }
      if (!input.holdOpen) socket.end();
    };
    socket.once('connect', writeNext);
  });
}
