/**
 * Whether a many-streams window lost segments under TCP memory pressure, and so which of the two modes of
 * native/README.md ("100 streams: the two modes are lossy and full windows") it was in. At 100 streams every relay's
 * sockets fill behind the sink and TCP's pages near `tcp_mem`'s pressure threshold: in a *lossy* window the stack
 * prunes and drops, sources resend, the relay's queues run part-empty while it waits for the resent bytes, and its
 * CPU per GiB is much lower than in a *full* one (nothing lost, queues full). A relay's figure is comparable only
 * with windows of the same kind.
 *
 * Read once before and once after the window, never during it: a few /proc files (system-wide counters: prunes,
 * pressure entries, drops, retransmissions, TCP's pages) and one `ss` over the transfer's own sockets (both ends of
 * both hops: their retransmissions and drops). The kind is decided on the transfer's own sockets, since the machine's
 * counters also count another tenant's traffic (a churn bench next door resends SYNs); those are reported beside it.
 * Linux only.
 */
import { readFile } from 'node:fs/promises';
import { parseSnmp } from './system-counters.js';
import { runCommand } from './process.js';

/** The counters reported per window, by their `nstat` names. */
export const PRESSURE_COUNTERS = [
  'TcpExtPruneCalled', 'TcpExtTCPRcvCollapsed', 'TcpExtTCPMemoryPressures', 'TcpExtTCPOFOQueue', 'TcpExtTCPOFODrop',
  'TcpExtTCPBacklogDrop', 'TcpRetransSegs', 'IpExtInNoRoutes', 'TcpExtTCPRcvQDrop', 'TcpExtTCPBacklogCoalesce',
] as const;
export type PressureCounter = (typeof PRESSURE_COUNTERS)[number];

/**
 * The rule (relay-syscalls' reading of its windows, with a guard): a window is lossy when the kernel pruned, entered
 * memory pressure or dropped for want of receive memory in it (system-wide: `LOSSY_SIGNALS`) and the transfer's own
 * sockets resent at least `LOSSY_RETRANS_PER_GIB` segments per GiB moved that the receiver had not got already (so
 * another tenant's pressure does not mark it). Resends the receiver had got are spurious (a tail-loss probe fired
 * because an ACK was late, e.g. while the receiver waited for a CPU): it reports each with a DSACK and drops the copy,
 * so neither all resends nor the sockets' drops (`skmem d`, duplicates included) tell a loss.
 */
export const LOSSY_SIGNALS: readonly PressureCounter[] = [
  'TcpExtPruneCalled', 'TcpExtTCPMemoryPressures', 'TcpExtTCPRcvQDrop',
];
export const LOSSY_RETRANS_PER_GIB = 20;

export type WindowKind = 'full' | 'lossy';

/** The transfer's own sockets (`ss -tmi`), summed: segments resent (tcpi_total_retrans), resends the receiver
 * reported as duplicates (tcpi_dsack_dups) and segments dropped on receipt (skmem `d`, duplicates included). */
export interface SocketLoss {
  readonly sockets: number;
  readonly retrans: number;
  readonly dsackDups: number;
  readonly drops: number;
}

export interface TcpPressureReading {
  /** Counters since boot, by nstat name (absent ones as 0). */
  readonly counters: Readonly<Record<PressureCounter, number>>;
  /** Pages TCP holds (/proc/net/sockstat `TCP: ... mem`). */
  readonly pages: number;
  /** net.ipv4.tcp_mem in pages: below `low` no pressure, from `pressure` on the stack moderates, `high` the cap. */
  readonly tcpMem: { readonly low: number; readonly pressure: number; readonly high: number };
  readonly sockets: SocketLoss;
}

export interface TcpPressureWindow {
  readonly kind: WindowKind;
  /** Each counter's increase over the window. */
  readonly deltas: Readonly<Record<PressureCounter, number>>;
  /** Retransmitted segments per GiB moved, system-wide. */
  readonly retransPerGiB: number;
  /** The transfer's own sockets over the window: segments resent per GiB moved, those of them not reported as
   * duplicates (resent for a real loss: the rule), and segments dropped on receipt (duplicates included). */
  readonly ownRetransPerGiB: number;
  readonly ownLostPerGiB: number;
  readonly ownDrops: number;
  /** TCP's pages at the fuller end of the window over the pressure threshold (≥ 1: the stack was at it); NaN when
   * tcp_mem could not be read. */
  readonly pressureShare: number;
}

/** nstat's name for `Group.Field` is GroupField: the longest group that prefixes the name. */
function snmpKey(name: string): string {
  const group = ['TcpExt', 'IpExt', 'Tcp'].find((g) => name.startsWith(g)) as string;
  return `${group}.${name.slice(group.length)}`;
}

/** A reading from the texts of /proc/net/snmp, /proc/net/netstat, /proc/net/sockstat and tcp_mem. */
export function parseTcpPressure(
  snmp: string, netstat: string, sockstat: string, tcpMem: string, sockets: SocketLoss,
): TcpPressureReading {
  const all = new Map<string, number>();
  parseSnmp(snmp, all, ['Tcp']);
  parseSnmp(netstat, all, ['TcpExt', 'IpExt']);
  const counters = Object.fromEntries(
    PRESSURE_COUNTERS.map((name) => [name, all.get(snmpKey(name)) ?? 0]),
  ) as Record<PressureCounter, number>;
  const [low = 0, pressure = 0, high = 0] = tcpMem.trim().split(/\s+/).map(Number);
  const pages = Number(/^TCP:.*\bmem (\d+)/m.exec(sockstat)?.[1] ?? 0);
  return { counters, pages, tcpMem: { low, pressure, high }, sockets };
}

/** Sums `ss -tmiH` output: `retrans:<now>/<total>` and `dsack_dups:` (absent when none) and skmem's `d<drops>`. */
export function parseSocketLoss(ss: string): SocketLoss {
  let sockets = 0;
  let retrans = 0;
  let dsackDups = 0;
  let drops = 0;
  for (const line of ss.split('\n')) {
    const skmem = /skmem:\([^)]*[(,]d(\d+)/.exec(line);
    if (skmem === null) continue;
    sockets++;
    drops += Number(skmem[1]);
    retrans += Number(/\bretrans:\d+\/(\d+)/.exec(line)?.[1] ?? 0);
    dsackDups += Number(/\bdsack_dups:(\d+)/.exec(line)?.[1] ?? 0);
  }
  return { sockets, retrans, dsackDups, drops };
}

/** A reading now; `ports`: the transfer's listening ports (relay and sink), whose sockets at either end count. */
export async function readTcpPressure(ports: readonly number[]): Promise<TcpPressureReading> {
  const filter = ports.flatMap((p, i) => [
    ...(i === 0 ? [] : ['or']), 'sport', '=', `:${p}`, 'or', 'dport', '=', `:${p}`,
  ]);
  const [snmp, netstat, sockstat, tcpMem, ss] = await Promise.all([
    readFile('/proc/net/snmp', 'utf8'),
    readFile('/proc/net/netstat', 'utf8'),
    readFile('/proc/net/sockstat', 'utf8'),
    // Only the initial network namespace has it (a bench run in its own has not): then no share is reported.
    readFile('/proc/sys/net/ipv4/tcp_mem', 'utf8').catch(() => ''),
    runCommand('ss', ['-tmiH', 'state', 'established', '(', ...filter, ')']),
  ]);
  return parseTcpPressure(snmp, netstat, sockstat, tcpMem, parseSocketLoss(ss.stdout));
}

/** What the stack did between two readings around a window that moved `gib` GiB, and the window's kind. */
export function tcpPressureWindow(
  before: TcpPressureReading, after: TcpPressureReading, gib: number,
): TcpPressureWindow {
  const deltas = Object.fromEntries(
    PRESSURE_COUNTERS.map((name) => [name, after.counters[name] - before.counters[name]]),
  ) as Record<PressureCounter, number>;
  const threshold = after.tcpMem.pressure;
  const perGiB = (n: number): number => (gib > 0 ? n / gib : 0);
  // Sockets that closed or opened in between would skew a sum; a window's streams stay open through it.
  const resent = Math.max(0, after.sockets.retrans - before.sockets.retrans);
  const duplicates = Math.max(0, after.sockets.dsackDups - before.sockets.dsackDups);
  const ownLostPerGiB = perGiB(Math.max(0, resent - duplicates));
  return {
    kind: windowKind(deltas, ownLostPerGiB),
    deltas,
    retransPerGiB: perGiB(deltas.TcpRetransSegs),
    ownRetransPerGiB: perGiB(resent),
    ownLostPerGiB,
    ownDrops: Math.max(0, after.sockets.drops - before.sockets.drops),
    pressureShare: threshold > 0 ? Math.max(before.pages, after.pages) / threshold : Number.NaN,
  };
}

/** The kind of a window with these system-wide deltas whose own sockets resent `lostPerGiB` segments per GiB for
 * real losses. */
export function windowKind(deltas: Readonly<Record<PressureCounter, number>>, lostPerGiB: number): WindowKind {
  const pressure = LOSSY_SIGNALS.some((name) => deltas[name] > 0);
  return pressure && lostPerGiB >= LOSSY_RETRANS_PER_GIB ? 'lossy' : 'full';
}
