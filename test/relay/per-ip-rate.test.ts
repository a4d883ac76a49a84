import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { firehose } from '../fixtures/tcp.js';
import type { TestServer } from '../helpers/listen.js';
import { sample, sampleFor, type Sample, slope, spanS } from '../helpers/rate-sample.js';
import { engines, startTidegate } from '../helpers/tidegate.js';
import { sleep } from '../helpers/wait.js';

const RATE = 1024 * 1024;
const WINDOW_S = 4;

/** A download from `port` as client `localAddress`, counting what arrives. */
function download(port: number, localAddress: string): Promise<{ socket: Socket; received: () => number }> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const socket = connect({ port, host: '127.0.0.1', localAddress }, () => {
      socket.removeListener('error', reject);
      socket.on('error', () => undefined);
      resolve({ socket, received: () => received });
    });
    socket.on('data', (c: Buffer) => (received += c.length));
    socket.once('error', reject);
  });
}

/**
 * A fair share: each of two connections sharing one bucket moves at least this part of the pair's bytes in the window
 * (60% of an even split). The fair buckets stay above 47% on a loaded 2-core machine; one that lets the relay that
 * just had its turn win the next one left a connection 0-15% in about one run of five (0 bytes in CI), 30-40% in more.
 */
const FAIR_SHARE = 0.3;

/**
 * Bytes a second over the window, within ±15% of RATE (a shared machine): the slope of samples by the clock
 * (helpers/rate-sample.ts), not the bytes over the sleep asked for, which a loaded box overruns.
 */
function assertAtRate(label: string, window: readonly Sample[]): void {
  const measured = slope(window);
  assert.ok(
    Math.abs(measured - RATE) <= RATE * 0.15,
    `${label}: ${Math.round(measured)} B/s (slope of ${window.length} samples over ${spanS(window).toFixed(2)} s), `
      + `expected ${RATE} ±15%`,
  );
}

for (const engine of engines()) {
  describe(`perIp.rate (${engine.kind} engine)`, () => {
    let hose: TestServer;
    before(async () => {
      hose = await firehose();
    });
    after(() => hose.close());

    it('one address\'s relays share one byte rate; another address has its own', async () => {
      const tg = await startTidegate({
        services: [{
          name: 'a', type: 'forward', listen: '127.0.0.1:0', targets: [hose.address], perIp: { rate: `${RATE}B/s` },
        }],
      }, { engine });
      const port = tg.port('a');
      const one = [await download(port, '127.0.0.1'), await download(port, '127.0.0.1')];
      const other = await download(port, '127.0.0.2');
      try {
        await sleep(1000);
        const pairOf = (): number => one[0]!.received() + one[1]!.received();
        const pairStart = await sample(pairOf);
        const oneStart = one.map((d) => d.received());
        const [pairWindow, otherWindow] = await Promise.all([
          sampleFor(pairOf, pairStart, WINDOW_S * 1000),
          sampleFor(other.received, await sample(other.received), WINDOW_S * 1000),
        ]);
        const moved = one.map((d, i) => d.received() - oneStart[i]!);
        const pair = moved[0]! + moved[1]!;
        // Two connections of 127.0.0.1 together at the rate, not twice it; 127.0.0.2 at the rate beside them.
        assertAtRate('127.0.0.1 (two connections)', pairWindow);
        assertAtRate('127.0.0.2 (one connection)', otherWindow);
        assert.ok(one[0]!.received() > 0 && one[1]!.received() > 0, 'both connections of 127.0.0.1 move bytes');
        // Each takes its turn: neither connection starves the other.
        for (const [i, bytes] of moved.entries()) {
          assert.ok(
            bytes >= pair * FAIR_SHARE,
            `connection ${i} of 127.0.0.1 moved ${bytes} of the pair's ${pair} bytes (< ${FAIR_SHARE * 100}%)`,
          );
        }
      } finally {
        for (const d of [...one, other]) d.socket.destroy();
        await tg.stop();
      }
    });
  });
}
