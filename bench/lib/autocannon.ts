/**
 * HTTP load with autocannon's programmatic API (the project's HTTP load generator). autocannon ships no types:
 * the few fields we use are declared here and checked at runtime.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface HttpLoadOptions {
  readonly url: string;
  readonly connections: number;
  /** Seconds of load. */
  readonly duration: number;
  readonly method?: 'GET' | 'POST';
  readonly body?: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
  /** Requests in flight per connection (1 = no pipelining, like a browser or an SDK). */
  readonly pipelining?: number;
}

export interface HttpLoadResult {
  readonly reqPerSec: number;
  /** Latency percentiles in ms. */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly requests: number;
  readonly errors: number;
  readonly timeouts: number;
  /** Responses with a status outside 2xx. */
  readonly non2xx: number;
}

interface AutocannonLatency {
  p50: number;
  p90: number;
  p99: number;
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: AutocannonLatency;
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}

type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;

/** Runs autocannon against `url` and returns throughput, latency percentiles and failure counts. */
export async function runHttpLoad(options: HttpLoadOptions): Promise<HttpLoadResult> {
  const autocannon = require('autocannon') as Autocannon;
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.duration,
    method: options.method ?? 'GET',
    body: options.body,
    headers: options.headers ?? {},
    pipelining: options.pipelining ?? 1,
  });
  if (typeof result?.requests?.total !== 'number' || typeof result.latency?.p99 !== 'number') {
    throw new Error('autocannon returned an unexpected result shape');
  }
  return {
    reqPerSec: result.requests.total / Math.max(result.duration, 1e-9),
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
  };
}
