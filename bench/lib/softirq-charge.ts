/**
 * Which task the kernel received a hop's data in. On loopback a segment is received in the softirq its transmit
 * raised, on the transmitting CPU and charged to the task running there (or, when the receiving socket is locked, to
 * the task that releases it). So a relay's CPU per GiB carries its neighbours' work whenever its own calls set off
 * their sending: a read that reopens a closed receive window has the source's queued bytes sent and received on the
 * relay's thread (native/README.md, "100 streams: the kernel's charge"). Counted with `tcp:tcp_probe` (one event per
 * segment an established socket receives), filtered by the receiving socket's local port, on the relay's process and
 * system-wide over the same window. Counting, not recording: no cost measurable at 180k events per second.
 */
import { runCommand } from './process.js';

/** The relay's shares of the two hops' received data segments (0..1), or null when the hop received none. */
export interface ReceivedOnRelay {
  /** source -> relay: segments the relay's sockets received on the relay's threads. */
  readonly in: number | null;
  /** relay -> sink: segments the sink's sockets received on the relay's threads. */
  readonly out: number | null;
}

/** `perf stat` arguments counting data segments received by sockets whose local port is `port`. */
export function receivedDataEvents(port: number): string[] {
  return ['-e', 'tcp:tcp_probe', '--filter', `sport == ${port} && data_len > 0`];
}

/** The `tcp:tcp_probe` counts of a `perf stat -x ,` report, in the order the events were given. */
export function probeCounts(stderr: string): number[] {
  const counts: number[] = [];
  for (const line of stderr.split('\n')) {
    const [value, , event] = line.split(',');
    if (event !== 'tcp:tcp_probe') continue;
    counts.push(value !== undefined && /^\d+$/.test(value) ? Number(value) : 0);
  }
  return counts;
}

/** The relay's share of a hop's received segments (two decimals; null when the hop received none). */
export function chargedShare(relayCount: number, allCount: number): number | null {
  return allCount <= 0 ? null : Math.round(Math.min(1, relayCount / allCount) * 100) / 100;
}

/**
 * Counts for `seconds` (on the relay process `pid` and system-wide) the segments received by the relay's sockets
 * (local port `relayPort`) and by the sink's (`sinkPort`). Null when perf or its tracepoints are not available.
 */
export async function countReceivedOnRelay(
  pid: number, relayPort: number, sinkPort: number, seconds: number,
): Promise<ReceivedOnRelay | null> {
  const events = [...receivedDataEvents(relayPort), ...receivedDataEvents(sinkPort)];
  const window = ['--', 'sleep', String(seconds)];
  try {
    const [onRelay, all] = await Promise.all([
      runCommand('perf', ['stat', '-x', ',', ...events, '-p', String(pid), ...window]),
      runCommand('perf', ['stat', '-x', ',', ...events, '-a', ...window]),
    ]);
    const [inRelay = 0, outRelay = 0] = probeCounts(onRelay.stderr);
    const [inAll = 0, outAll = 0] = probeCounts(all.stderr);
    if (onRelay.code !== 0 || all.code !== 0 || inAll === 0) return null;
    return { in: chargedShare(inRelay, inAll), out: chargedShare(outRelay, outAll) };
  } catch {
    return null;
  }
}
