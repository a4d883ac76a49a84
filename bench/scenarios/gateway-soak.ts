/**
 * The gateway soak: tidegate's gateway (auth, routing, affinity, breaker, usage log on) under steady mixed load for
 * 5 minutes after a warm-up — autocannon's 300-byte chat requests on 50 connections and 10 clients of streamed
 * answers at the same time — with its RSS sampled every 5 s. The claim: RSS flat (±10%) after warm-up.
 * `--quick` shortens the soak to 20 s (a smoke run, not the claim).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext, BenchRatio, BenchReport, BenchScenario } from '../types.js';
import { MetricCollector } from '../lib/metric.js';
import { tidegateAvailable, tidegateCliPath } from '../lib/tidegate.js';
import {
  CLIENT_KEY, cannon, chatBody, rssBytes, startGatewayTidegate, startUpstream, streams, type Target,
} from './gateway.js';

const SAMPLE_MS = 5000;
const CHAT_CONNECTIONS = 50;
const STREAM_CLIENTS = 10;
/** Streamed answers per client between two checks of the stop flag. */
const STREAMS_PER_LOOP = 5;

async function run(context: BenchContext): Promise<BenchReport> {
  if (!tidegateAvailable()) throw new Error(`tidegate is not built at ${tidegateCliPath()}`);
  const soakS = context.quick ? 20 : 300;
  const warmS = context.quick ? 5 : 30;
  const notes: string[] = [];
  const collector = new MetricCollector();
  const upstream = await startUpstream();
  const dbDir = await mkdtemp(join(tmpdir(), 'tidegate-soak-'));
  const tg = await startGatewayTidegate(upstream.port, dbDir);
  const pid = tg.tidegate.cpuPid;
  const target: Target = { path: 'tidegate', url: `http://127.0.0.1:${tg.port}`, headers: { authorization: `Bearer ${CLIENT_KEY}`, 'x-session-id': 'soak-1' }, pid };
  try {
    context.log(`warm-up ${warmS} s`);
    await Promise.all([
      cannon(target, chatBody(false), CHAT_CONNECTIONS, warmS), streams(target, STREAM_CLIENTS, warmS * 10),
    ]);
    const start = await rssBytes(pid);
    const samples: number[] = [start];
    context.log(`soak ${soakS} s: RSS after warm-up ${Math.round(start / 1048576)} MiB`);
    const sampler = setInterval(function sampleRss() {
      rssBytes(pid).then((v) => samples.push(v), () => undefined);
    }, SAMPLE_MS);
    let streamed = 0;
    let streamFailures = 0;
    let stop = false;
    const streaming = (async function streamUntilStopped() {
      while (!stop) {
        const s = await streams(target, STREAM_CLIENTS, STREAMS_PER_LOOP);
        streamed += STREAM_CLIENTS * STREAMS_PER_LOOP;
        streamFailures += s.failed;
      }
    })();
    const load = await cannon(target, chatBody(false), CHAT_CONNECTIONS, soakS);
    stop = true;
    await streaming;
    clearInterval(sampler);
    const end = await rssBytes(pid);
    samples.push(end);
    const max = Math.max(...samples);
    const min = Math.min(...samples);
    collector.add('rss-end-over-start', 'tidegate', 'ratio', 'lower', end / start);
    collector.add('rss-max-over-start', 'tidegate', 'ratio', 'lower', max / start);
    collector.add('rss-min-over-start', 'tidegate', 'ratio', 'higher', min / start);
    collector.add('chat300-rps', 'tidegate', 'req/s', 'higher', load.rps);
    collector.add('chat300-p99', 'tidegate', 'ms', 'lower', load.p99);
    notes.push(
      `${soakS} s of 300-byte chat requests (${CHAT_CONNECTIONS} connections) plus ${streamed} streamed answers ` +
        `(${STREAM_CLIENTS} clients), after ${warmS} s of warm-up`,
    );
    notes.push(
      `RSS ${Math.round(start / 1048576)} MiB after warm-up, ${Math.round(end / 1048576)} MiB at the end; ` +
        `${Math.round(min / 1048576)}–${Math.round(max / 1048576)} MiB over ${samples.length} samples`,
    );
    if (load.errors > 0 || load.non2xx > 0 || streamFailures > 0) {
      notes.push(`errors: ${load.errors}, non-2xx: ${load.non2xx}, failed streams: ${streamFailures}`);
    }
    const status = (await tg.tidegate.status()).raw as {
      services?: { detail?: { usageLog?: { written?: number; pending?: number } } }[];
    };
    const usage = status.services?.[0]?.detail?.usageLog;
    if (usage) notes.push(`usage rows written: ${usage.written ?? 0}, pending at the end: ${usage.pending ?? 0}`);
  } finally {
    await tg.tidegate.stop();
    await upstream.process.stop();
    await rm(dbDir, { recursive: true, force: true });
  }
  const metrics = collector.metrics();
  const value = (name: string): number => metrics.find((m) => m.name === name)?.median ?? Number.NaN;
  const ratios: BenchRatio[] = [];
  const max = value('rss-max-over-start');
  const min = value('rss-min-over-start');
  ratios.push({ name: 'RSS max over the soak / after warm-up', value: max, target: '<= 1.1', met: max <= 1.1 });
  ratios.push({ name: 'RSS min over the soak / after warm-up', value: min, target: '>= 0.9', met: min >= 0.9 });
  ratios.push({ name: 'RSS end / after warm-up', value: value('rss-end-over-start') });
  return { scenario: 'gateway-soak', metrics, ratios, notes };
}

export const scenario: BenchScenario = {
  name: 'gateway-soak',
  description: 'gateway RSS over a 5-minute mixed load (chat requests and streamed answers) after warm-up',
  run,
};
