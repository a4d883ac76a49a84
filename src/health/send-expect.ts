import type { Socket } from 'node:net';

/**
 * A send-expect exchange for `probeTcp`: writes `send` (if any) and resolves once the bytes read so far contain
 * `expect`; rejects when the peer closes first. Reads at most 64 KiB (a check, not a download).
 */
export function sendExpect(send: string, expect: string): (socket: Socket) => Promise<void> {
  const wanted = Buffer.from(expect);
  return function talkSendExpect(socket: Socket): Promise<void> {
    return new Promise<void>(function expectExecutor(resolve, reject) {
      let seen: Buffer = Buffer.alloc(0);
      function onData(chunk: Buffer): void {
        seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
        if (seen.includes(wanted)) {
          socket.removeListener('end', onEnd);
          resolve();
        } else if (seen.length > 65_536) {
          reject(new Error(`expected text not in the first 64 KiB`));
        }
      }
      function onEnd(): void {
        reject(new Error('closed before the expected text'));
      }
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      if (send !== '') socket.write(send);
    });
  };
}
