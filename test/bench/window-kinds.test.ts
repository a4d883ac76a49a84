import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseSocketLoss, parseTcpPressure, tcpPressureWindow, windowKind, PRESSURE_COUNTERS, type PressureCounter,
  type SocketLoss, type TcpPressureReading,
} from '../../bench/lib/tcp-pressure.js';
import { roundsByKind, windowKindReport } from '../../bench/lib/window-kinds.js';
import { toMetric } from '../../bench/lib/metric.js';
import type { BenchMetric } from '../../bench/types.js';

const SNMP = [
  'Ip: Forwarding DefaultTTL',
  'Ip: 1 64',
  'Tcp: RtoAlgorithm RtoMin ActiveOpens RetransSegs InErrs',
  'Tcp: 1 200 10 500 0',
].join('\n');
const NETSTAT = [
  'TcpExt: SyncookiesSent PruneCalled TCPMemoryPressures TCPRcvQDrop TCPOFODrop',
  'TcpExt: 0 7 2 3 1',
  'IpExt: InNoRoutes InTruncatedPkts',
  'IpExt: 4 0',
].join('\n');
const SOCKSTAT = 'sockets: used 11\nTCP: inuse 201 orphan 0 tw 0 alloc 203 mem 300000\nUDP: inuse 0 mem 0\n';
const TCP_MEM = '287907\t383877\t575814\n';
// `ss -tmiH`: a socket's line, then its info line (`retrans:` only once it has resent).
const SS = [
  '0      0      127.0.0.1:40000 127.0.0.1:50000',
  '\t skmem:(r0,rb131072,t0,tb2626560,f0,w0,o0,bl0,d3) bbr rto:201 bytes_retrans:99 retrans:0/12 dsack_dups:9',
  '0      0      127.0.0.1:50000 127.0.0.1:40000',
  '\t skmem:(r892,rb6291456,t0,tb2626560,f3204,w0,o0,bl0,d0) bbr wscale:10,10 rto:200 bytes_received:60',
  '',
].join('\n');

const NO_LOSS: SocketLoss = { sockets: 200, retrans: 0, dsackDups: 0, drops: 0 };

function reading(
  counters: Partial<Record<PressureCounter, number>>, pages = 100, sockets: SocketLoss = NO_LOSS,
): TcpPressureReading {
  const all = Object.fromEntries(PRESSURE_COUNTERS.map((n) => [n, counters[n] ?? 0]));
  return { counters: all as Record<PressureCounter, number>, pages, tcpMem: { low: 1000, pressure: 2000, high: 3000 },
    sockets };
}

test('parseTcpPressure: nstat names from snmp and netstat, TCP pages and tcp_mem', () => {
  const r = parseTcpPressure(SNMP, NETSTAT, SOCKSTAT, TCP_MEM, NO_LOSS);
  assert.equal(r.counters.TcpRetransSegs, 500);
  assert.equal(r.counters.TcpExtPruneCalled, 7);
  assert.equal(r.counters.TcpExtTCPMemoryPressures, 2);
  assert.equal(r.counters.TcpExtTCPRcvQDrop, 3);
  assert.equal(r.counters.TcpExtTCPOFODrop, 1);
  assert.equal(r.counters.IpExtInNoRoutes, 4);
  assert.equal(r.counters.TcpExtTCPBacklogDrop, 0, 'a counter this kernel lacks reads 0');
  assert.equal(r.pages, 300000);
  assert.deepEqual(r.tcpMem, { low: 287907, pressure: 383877, high: 575814 });
});

test('parseSocketLoss sums resent and dropped segments over the sockets', () => {
  assert.deepEqual(parseSocketLoss(SS), { sockets: 2, retrans: 12, dsackDups: 9, drops: 3 });
  assert.deepEqual(parseSocketLoss(''), { sockets: 0, retrans: 0, dsackDups: 0, drops: 0 });
});

const NONE = reading({}).counters;

test('lossy: the kernel pruned, entered pressure or dropped for receive memory, and the transfer lost to it', () => {
  assert.equal(windowKind(NONE, 0), 'full');
  assert.equal(windowKind(NONE, 500), 'full', 'losses without memory pressure are not this mode');
  for (const signal of ['TcpExtPruneCalled', 'TcpExtTCPMemoryPressures', 'TcpExtTCPRcvQDrop'] as const) {
    const pressure = { ...NONE, [signal]: 1 };
    assert.equal(windowKind(pressure, 20), 'lossy', signal);
    assert.equal(windowKind(pressure, 19), 'full', `${signal}: another tenant's pressure, this transfer lost little`);
  }
  assert.equal(windowKind({ ...NONE, TcpRetransSegs: 900, TcpExtTCPOFODrop: 5 }, 100), 'full');
});

test('tcpPressureWindow: resends that were not duplicates are the losses; spurious ones and drops are reported', () => {
  const at = (prunes: number, retrans: number, dsackDups: number, drops: number): TcpPressureReading =>
    reading({ TcpExtPruneCalled: prunes, TcpRetransSegs: retrans }, 100, { sockets: 200, retrans, dsackDups, drops });
  const lost = tcpPressureWindow(at(0, 1000, 100, 5), at(7, 1900, 300, 5), 2);
  assert.equal(lost.kind, 'lossy');
  assert.equal(lost.ownRetransPerGiB, 450);
  assert.equal(lost.ownLostPerGiB, 350);
  assert.equal(lost.ownDrops, 0);
  assert.equal(lost.retransPerGiB, 450);
  assert.equal(lost.deltas.TcpExtPruneCalled, 7);
  // Tail-loss probes the receiver already had (it reports them as duplicates and drops the copies): not losses.
  const spurious = tcpPressureWindow(at(0, 0, 0, 0), at(7, 800, 790, 790), 2);
  assert.equal(spurious.kind, 'full');
  assert.equal(spurious.ownRetransPerGiB, 400);
  assert.equal(spurious.ownLostPerGiB, 5);
  assert.equal(spurious.ownDrops, 790);
});

test('tcpPressureWindow: deltas over the window and the fuller end against the pressure threshold', () => {
  const w = tcpPressureWindow(reading({ TcpExtPruneCalled: 10 }, 1500), reading({ TcpExtPruneCalled: 12 }, 2100), 4);
  assert.equal(w.deltas.TcpExtPruneCalled, 2);
  assert.equal(w.pressureShare, 2100 / 2000);
  assert.equal(tcpPressureWindow(reading({}, 1800), reading({}, 900), 1).pressureShare, 0.9);
  const noTcpMem = { ...reading({}, 1800), tcpMem: { low: 0, pressure: 0, high: 0 } };
  assert.ok(Number.isNaN(tcpPressureWindow(noTcpMem, noTcpMem, 1).pressureShare), 'tcp_mem unreadable: no share');
});

function streams(path: string, lossy: number[], cpu: number[], name = 'streams100'): BenchMetric[] {
  return [
    toMetric(`${name}.lossy`, path, 'lossy (1) / full (0)', 'lower', lossy),
    toMetric(`${name}.cpuPerGiB`, path, 'CPU-s/GiB', 'lower', cpu),
  ];
}

test('roundsByKind splits the CPU samples by their round\'s kind; rounds that do not line up give nothing', () => {
  const list = [...streams('tidegate-native', [0, 1, 0, 0, 1], [0.25, 0.15, 0.21, 0.23, 0.14])];
  const samples = (name: string, path: string) => list.find((m) => m.name === name && m.path === path)?.samples;
  assert.deepEqual(roundsByKind(samples, 'streams100', 'tidegate-native'), {
    kinds: ['full', 'lossy', 'full', 'full', 'lossy'], full: [0.25, 0.21, 0.23], lossy: [0.15, 0.14],
  });
  assert.equal(roundsByKind(samples, 'streams1000', 'tidegate-native'), undefined);
  const short = [toMetric('streams100.lossy', 'x', '', 'lower', [0, 1]), toMetric('streams100.cpuPerGiB', 'x', '',
    'lower', [0.2])];
  const shortSamples = (name: string, path: string) => short.find((m) => m.name === name && m.path === path)?.samples;
  assert.equal(roundsByKind(shortSamples, 'streams100', 'x'), undefined);
});

test('windowKindReport: like-for-like medians per kind with round counts, n/a when one side has none', () => {
  const list = [
    ...streams('tidegate-native', [0, 1, 0, 0, 1], [0.25, 0.15, 0.21, 0.23, 0.14]),
    ...streams('haproxy', [1, 1, 0, 1, 1], [0.16, 0.15, 0.2, 0.17, 0.14]),
    ...streams('tidegate-native', [0, 0], [0.3, 0.32], 'streams1000'),
    ...streams('haproxy', [0, 0], [0.5, 0.6], 'streams1000'),
  ];
  const { ratios, notes } = windowKindReport(
    list, ['streams100', 'streams1000'], ['tidegate-native', 'tidegate-native-base'], ['haproxy', 'baseline-splice-c'],
  );
  const value = (name: string) => ratios.find((r) => r.name === name)?.value;
  // Full: median 0.23 against 0.2; lossy: median 0.145 against 0.155.
  assert.equal(
    value('tidegate-native / haproxy streams100 CPU per GiB, full rounds only (3 and 1 rounds)'), 0.23 / 0.2,
  );
  const lossy = value('tidegate-native / haproxy streams100 CPU per GiB, lossy rounds only (2 and 4 rounds)');
  assert.ok(lossy !== undefined && Math.abs(lossy - 0.145 / 0.155) < 1e-12);
  assert.equal(
    value('tidegate-native / haproxy streams1000 CPU per GiB, full rounds only (2 and 2 rounds)'), 0.31 / 0.55,
  );
  assert.equal(ratios.length, 3, 'no ratio for a kind one side lacks, none for paths not measured');
  assert.ok(
    notes.includes('tidegate-native / haproxy streams1000 CPU per GiB, lossy rounds only (0 and 0 rounds): n/a'),
  );
  assert.ok(notes.some((n) => n.startsWith('streams100 rounds by window kind') &&
    n.includes('tidegate-native full 3, lossy 2 (F L F F L)') && n.includes('haproxy full 1, lossy 4 (L L F L L)')));
});
