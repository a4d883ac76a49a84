/** Counter values of one subject (a user or a service); used for live meters, durable totals and unsent deltas. */
export class Counters {
  bytesIn = 0;
  bytesOut = 0;
  connections = 0;
  requests = 0;
  tokens = 0;

  add(bytesIn: number, bytesOut: number, connections: number, requests: number, tokens: number): void {
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
    this.connections += connections;
    this.requests += requests;
    this.tokens += tokens;
  }

  addFrom(other: Counters): void {
    this.add(other.bytesIn, other.bytesOut, other.connections, other.requests, other.tokens);
  }

  clear(): void {
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.connections = 0;
    this.requests = 0;
    this.tokens = 0;
  }

  isZero(): boolean {
    return this.bytesIn === 0 && this.bytesOut === 0 && this.connections === 0 && this.requests === 0 &&
      this.tokens === 0;
  }

  toJSON(): CountersBody {
    return {
      bytesIn: this.bytesIn, bytesOut: this.bytesOut, connections: this.connections, requests: this.requests,
      tokens: this.tokens,
    };
  }
}

export interface CountersBody {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly connections: number;
  readonly requests: number;
  readonly tokens: number;
}

/** Unsent counter deltas of one subject for one period (a period change starts a new Delta). */
export class Delta extends Counters {
  period: string;

  constructor(period: string) {
    super();
    this.period = period;
  }
}
