import type { CountersBody } from '../contracts/admin-api.js';

export type { CountersBody };
/** Counter values of one subject (a user or a service); used for live meters, durable totals and unsent deltas. */
export class Counters {
  bytesIn = 0;
  bytesOut = 0;
  connections = 0;
  requests = 0;
  tokens = 0;
  /** Token classes of gateway requests (input without cache, cache read, cache write, output without reasoning). */
  inputTokens = 0;
  cacheReadTokens = 0;
  cacheWriteTokens = 0;
  outputTokens = 0;
  reasoningTokens = 0;
  /** Cost in millionths of the currency (prices of one currency per process). */
  costMicros = 0;

  add(bytesIn: number, bytesOut: number, connections: number, requests: number, tokens: number): void {
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
    this.connections += connections;
    this.requests += requests;
    this.tokens += tokens;
  }

  addTokens(input: number, cacheRead: number, cacheWrite: number, output: number, reasoning: number,
    cost: number): void {
    this.inputTokens += input;
    this.cacheReadTokens += cacheRead;
    this.cacheWriteTokens += cacheWrite;
    this.outputTokens += output;
    this.reasoningTokens += reasoning;
    this.costMicros += cost;
  }

  addFrom(other: CountersBody): void {
    this.add(other.bytesIn, other.bytesOut, other.connections, other.requests, other.tokens);
    this.addTokens(
      other.inputTokens, other.cacheReadTokens, other.cacheWriteTokens, other.outputTokens, other.reasoningTokens,
      other.costMicros,
    );
  }

  /** Adds `other`'s gateway spend only: requests, tokens, token classes and cost (no bytes, no connections). */
  addSpendFrom(other: CountersBody): void {
    this.add(0, 0, 0, other.requests, other.tokens);
    this.addTokens(
      other.inputTokens, other.cacheReadTokens, other.cacheWriteTokens, other.outputTokens, other.reasoningTokens,
      other.costMicros,
    );
  }

  clear(): void {
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.connections = 0;
    this.requests = 0;
    this.tokens = 0;
    this.inputTokens = this.cacheReadTokens = this.cacheWriteTokens = this.outputTokens = this.reasoningTokens = 0;
    this.costMicros = 0;
  }

  isZero(): boolean {
    return this.bytesIn === 0 && this.bytesOut === 0 && this.connections === 0 && this.requests === 0 &&
      this.tokens === 0 && this.costMicros === 0 && this.inputTokens === 0 && this.outputTokens === 0 &&
      this.cacheReadTokens === 0 && this.cacheWriteTokens === 0 && this.reasoningTokens === 0;
  }

  toJSON(): CountersBody {
    return {
      bytesIn: this.bytesIn, bytesOut: this.bytesOut, connections: this.connections, requests: this.requests,
      tokens: this.tokens, inputTokens: this.inputTokens, cacheReadTokens: this.cacheReadTokens,
      cacheWriteTokens: this.cacheWriteTokens, outputTokens: this.outputTokens, reasoningTokens: this.reasoningTokens,
      costMicros: this.costMicros,
    };
  }
}

/** Unsent counter deltas of one subject for one period (a period change starts a new Delta). */
export class Delta extends Counters {
  period: string;

  constructor(period: string) {
    super();
    this.period = period;
  }
}
