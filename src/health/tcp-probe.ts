import { connect, type Socket } from 'node:net';

/**
 * Opens a TCP connection to `host:port` (HAProxy's default check) and hands it to `talk` for any exchange the
 * subject needs; the socket is destroyed afterwards whatever happened. Rejects on refusal, reset or abort.
 */
export function probeTcp(
  host: string, port: number, signal: AbortSignal, talk: ((socket: Socket) => Promise<void>) | null = null,
): Promise<void> {
  return new Promise<void>(function probeExecutor(resolve, reject) {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const socket = connect({ host, port });
    function aborted(): void {
      socket.destroy(signal.reason as Error);
    }
    let done = false;
    function finish(err: Error | null): void {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', aborted);
      socket.destroy();
      if (err === null) resolve();
      else reject(err);
    }
    signal.addEventListener('abort', aborted, { once: true });
    socket.on('error', finish);
    socket.once('connect', function probeConnected() {
      if (talk === null) {
        finish(null);
        return;
      }
      talk(socket).then(function probeTalked() {
        finish(null);
      }, finish);
    });
  });
}
