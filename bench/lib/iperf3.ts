import { ManagedProcess, hasCommand, runCommand } from './process.js';
import { freePort, waitForPort, sleep } from './ports.js';

export function iperf3Installed(): Promise<boolean> {
  return hasCommand('iperf3', ['--version']);
}

/** An iperf3 server on 127.0.0.1 (serves one client test after another). */
export async function startIperf3Server(): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child = new ManagedProcess('iperf3-server', 'iperf3', ['-s', '-B', '127.0.0.1', '-p', String(port)]);
  await waitForPort(port);
  return { port, stop: () => child.stop('SIGTERM', 2000) };
}

export interface Iperf3Result {
  /** Bytes the server received. */
  readonly bytes: number;
  readonly bitsPerSecond: number;
  readonly seconds: number;
  /**
   * CPU seconds the iperf3 client and server used over the test (their own cpu_utilization_percent × its length):
   * with the relay's, the whole transfer's cost — loopback TCP work lands in whichever process happens to trigger
   * it, so a relay's share can move to the endpoints (or back) without the transfer getting cheaper.
   */
  readonly clientCpuSeconds: number;
  readonly serverCpuSeconds: number;
}

/**
 * One iperf3 client run to 127.0.0.1:port with `streams` parallel streams for `seconds`. The server serves one
 * test at a time and may still be tearing down the previous one (or our readiness probe): retry that briefly.
 */
export async function runIperf3(
  port: number, seconds: number, streams = 1, extraArgs: readonly string[] = [],
): Promise<Iperf3Result> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await runIperf3Once(port, seconds, streams, extraArgs);
    } catch (error) {
      const message = (error as Error).message;
      if (attempt >= 4 || !/control socket has closed|server is busy|unable to (connect|receive)/i.test(message)) throw error;
      await sleep(250 * attempt);
    }
  }
}

async function runIperf3Once(
  port: number, seconds: number, streams: number, extraArgs: readonly string[],
): Promise<Iperf3Result> {
  const result = await runCommand('iperf3', [
    '-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-P', String(streams), '-J', ...extraArgs,
  ]);
  let report: {
    end?: {
      sum_received?: { bytes?: number; bits_per_second?: number; seconds?: number };
      cpu_utilization_percent?: { host_total?: number; remote_total?: number };
    };
    error?: string;
  };
  try {
    report = JSON.parse(result.stdout) as typeof report;
  } catch {
    throw new Error(`iperf3 gave no JSON (code ${result.code}): ${result.stderr.slice(0, 300)}`);
  }
  if (report.error) throw new Error(`iperf3: ${report.error}`);
  const sum = report.end?.sum_received;
  if (!sum || typeof sum.bytes !== 'number' || typeof sum.bits_per_second !== 'number') {
    throw new Error('iperf3 report has no end.sum_received');
  }
  const cpu = report.end?.cpu_utilization_percent;
  const length = sum.seconds ?? seconds;
  return {
    bytes: sum.bytes, bitsPerSecond: sum.bits_per_second, seconds: length,
    clientCpuSeconds: ((cpu?.host_total ?? 0) / 100) * length,
    serverCpuSeconds: ((cpu?.remote_total ?? 0) / 100) * length,
  };
}
