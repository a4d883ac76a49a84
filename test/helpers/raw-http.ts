import { connect } from 'node:net';

/** One answer read off a raw socket; `status` 0 when nothing (or no status line) came back. */
export interface RawAnswer {
  readonly status: number;
  readonly head: string;
  readonly body: string;
  /** The server closed the connection (or the deadline passed: see `timedOut`). */
  readonly closed: boolean;
  readonly timedOut: boolean;
}

/**
 * Writes `bytes` (malformed HTTP welcome) to 127.0.0.1:`port` and reads the first answer: complete once its
 * content-length has arrived (or chunked's last chunk), or when the server closes, or at `deadlineMs`.
 */
export function rawExchange(
  port: number, bytes: string | Buffer, deadlineMs = 5_000, endAfterWrite = false,
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (closed: boolean, timedOut: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const text = data.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split === -1 ? text : text.slice(0, split);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
      const body = split === -1 ? '' : data.subarray(split + 4).toString('utf8');
      resolve({ status: status ? Number(status) : 0, head, body, closed, timedOut });
    };
    const timer = setTimeout(() => finish(false, true), deadlineMs);
    socket.on('error', () => finish(true, false));
    socket.on('close', () => finish(true, false));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const split = data.indexOf('\r\n\r\n');
      if (split === -1) return;
      const head = data.toString('latin1', 0, split);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
      if (length !== undefined && data.length >= split + 4 + Number(length)) finish(false, false);
      else if (/\r\ntransfer-encoding: *chunked/i.test(head) && data.includes('\r\n0\r\n\r\n')) finish(false, false);
    });
    socket.write(bytes, () => {
      if (endAfterWrite) socket.end();
    });
  });
}

/** The `error.code` of a JSON error body, or null. */
export function errorCode(answer: RawAnswer): string | null {
  try {
    return (JSON.parse(answer.body) as { error?: { code?: string } }).error?.code ?? null;
  } catch {
    return null;
  }
}
