/**
 * Whole-machine counters for a bench window: CPU time by kind from /proc/stat (all CPUs) and TCP counters from
 * /proc/net/snmp and /proc/net/netstat. Read before and after a window; `systemDelta` says where the machine's time
 * went (busy, idle, softirq) and how many segments it sent, so a figure per connection covers the peers and the
 * kernel too, not just one process. Linux only.
 */
import { readFile } from 'node:fs/promises';
import { clockTicksPerSecond } from './cpu.js';

export interface SystemCounters {
  /** /proc/stat's `cpu` line in seconds: user, nice, system, idle, iowait, irq, softirq, steal. */
  readonly cpu: readonly number[];
  /** Context switches on all CPUs so far (/proc/stat `ctxt`). */
  readonly ctxt: number;
  /** Named TCP counters (Tcp: from snmp, TcpExt: from netstat), e.g. `Tcp.OutSegs`, `TcpExt.DelayedACKs`. */
  readonly tcp: ReadonlyMap<string, number>;
}

export interface SystemDelta {
  readonly busySeconds: number;
  readonly idleSeconds: number;
  readonly softirqSeconds: number;
  readonly systemSeconds: number;
  readonly userSeconds: number;
  readonly contextSwitches: number;
  readonly tcp: ReadonlyMap<string, number>;
}

/** The header / value line pairs of `groups` (default `Tcp:` and `TcpExt:`) in /proc/net/snmp or /proc/net/netstat,
 * named `Group.Field`. */
export function parseSnmp(
  text: string, into: Map<string, number>, groups: readonly string[] = ['Tcp', 'TcpExt'],
): void {
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const head = (lines[i] as string).split(/\s+/);
    const values = (lines[i + 1] as string).split(/\s+/);
    const group = head[0];
    if (group === undefined || !groups.includes(group.slice(0, -1)) || values[0] !== group) continue;
    for (let k = 1; k < head.length; k++) into.set(`${group.slice(0, -1)}.${head[k]}`, Number(values[k]));
    i++;
  }
}

export async function readSystemCounters(): Promise<SystemCounters> {
  const [stat, snmp, netstat] = await Promise.all([
    readFile('/proc/stat', 'utf8'),
    readFile('/proc/net/snmp', 'utf8'),
    readFile('/proc/net/netstat', 'utf8'),
  ]);
  const line = stat.split('\n', 1)[0] as string;
  const ticks = clockTicksPerSecond();
  const cpu = line.trim().split(/\s+/).slice(1, 9).map((v) => Number(v) / ticks);
  const ctxt = Number(/^ctxt (\d+)$/m.exec(stat)?.[1] ?? Number.NaN);
  const tcp = new Map<string, number>();
  parseSnmp(snmp, tcp);
  parseSnmp(netstat, tcp);
  return { cpu, ctxt, tcp };
}

export function systemDelta(a: SystemCounters, b: SystemCounters): SystemDelta {
  const d = b.cpu.map((v, i) => v - (a.cpu[i] as number));
  const at = (i: number): number => d[i] ?? 0;
  const tcp = new Map<string, number>();
  for (const [name, value] of b.tcp) tcp.set(name, value - (a.tcp.get(name) ?? 0));
  return {
    busySeconds: at(0) + at(1) + at(2) + at(5) + at(6) + at(7),
    idleSeconds: at(3) + at(4),
    softirqSeconds: at(6),
    systemSeconds: at(2),
    userSeconds: at(0) + at(1),
    contextSwitches: b.ctxt - a.ctxt,
    tcp,
  };
}
