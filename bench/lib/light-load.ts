/**
 * The lightest HTTP load generator and LLM upstream on this machine, for benches where their CPU would otherwise be
 * taken from tidegate's (the workers bench on 2 cores): wrk with a POST script, and nginx answering every request
 * with the gateway bench's chat completion. Per request they cost ~8 and ~7 µs of CPU here, against ~20 each for
 * autocannon and the Node upstream (llm-upstream-server.ts). Both need their binaries (apt-get install wrk nginx).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPLETION_JSON } from '../scenarios/gateway/answers.js';
import { startNginx, type Nginx } from './nginx.js';
import { hasCommand, runCommand } from './process.js';

/** Whether wrk and nginx are installed. */
export async function lightLoadAvailable(): Promise<boolean> {
  return (await hasCommand('wrk', ['--version'])) && (await hasCommand('nginx', ['-v']));
}

/** nginx (one worker process) on 127.0.0.1 answering any request with the chat completion, keep-alive for good. */
export async function startNginxUpstream(): Promise<Nginx> {
  const body = COMPLETION_JSON.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  return startNginx('nginx-llm', ['keepalive_requests 1000000000;', 'keepalive_timeout 600s;'],
    `default_type application/json; return 200 '${body}';`);
}

export interface WrkResult {
  readonly requests: number;
  readonly reqPerSec: number;
  /** Socket errors, timeouts and non-2xx answers. */
  readonly failures: number;
  /** wrk's own CPU seconds (user + system). */
  readonly cpuSeconds: number;
}

/** One wrk thread, `connections` keep-alive connections POSTing `body` for `seconds`. */
export async function runWrkPost(
  url: string, connections: number, seconds: number, body: string, headers: Readonly<Record<string, string>>,
): Promise<WrkResult> {
  const dir = await mkdtemp(join(tmpdir(), 'tidegate-wrk-'));
  try {
    const lines = ['wrk.method = "POST"', `wrk.body = [==[${body}]==]`];
    for (const [k, v] of Object.entries(headers)) {
      lines.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
    }
    await writeFile(join(dir, 'post.lua'), lines.join('\n') + '\n');
    return await runWrk(`-t1 -c${connections} -d${seconds}s -s ${join(dir, 'post.lua')} ${url}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Connection churn the wrk way (the wrk churn bench's load): one wrk thread, `connections` connections each sending
 * GET with `Connection: close`, so every request is a new connection; `requests` counts connections.
 */
export function runWrkClose(url: string, connections: number, seconds: number): Promise<WrkResult> {
  return runWrk(`-t1 -c${connections} -d${seconds}s -H 'Connection: close' ${url}`);
}

async function runWrk(args: string): Promise<WrkResult> {
  // bash's `times` prints the CPU its reaped children used: wrk's own.
  const run = await runCommand('bash', ['-c', `wrk ${args}; times`]);
  const requests = Number(/(\d+) requests in/.exec(run.stdout)?.[1] ?? 0);
  if (run.code !== 0 || requests === 0) throw new Error(`wrk failed (${run.code}): ${run.stdout}${run.stderr}`);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(run.stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(run.stdout)?.[1] ?? 0);
  const failures = non2xx + (errors === null ? 0 : errors.slice(1).reduce((s, n) => s + Number(n), 0));
  const times = run.stdout.trim().split('\n').slice(-1)[0]!;
  const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s/.exec(times);
  const cpuSeconds = m === null ? Number.NaN
    : Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]);
  return {
    requests, reqPerSec: Number(/Requests\/sec:\s*([\d.]+)/.exec(run.stdout)?.[1] ?? 0), failures, cpuSeconds,
  };
}
