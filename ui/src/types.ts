// The admin API's JSON shapes, as far as the dashboard reads them.

export interface ServiceStatus {
  readonly name: string;
  readonly type: 'forward' | 'proxy' | 'gateway';
  readonly listen: string;
  readonly state: string;
  readonly connections: { readonly live: number; readonly total: number; readonly refused: number };
  readonly bytes: { readonly in: number; readonly out: number };
  readonly detail?: Record<string, unknown>;
}

export interface StatusBody {
  readonly version: string;
  readonly uptimeSeconds: number;
  readonly relayEngine: string;
  readonly relayEngineFallback: string | null;
  readonly reloads: { readonly total: number; readonly failed: number; readonly lastError: string | null };
  readonly pool: Record<string, unknown> | null;
  readonly services: readonly ServiceStatus[];
  readonly accounting: Record<string, unknown>;
}

/** `[live, bytesIn, bytesOut, requests]` per service. */
export interface StatsSample {
  readonly t: number;
  readonly services: Readonly<Record<string, readonly [number, number, number, number]>>;
}

export interface Page<T> {
  readonly items: readonly T[];
  readonly nextCursor: string | null;
}

export interface UserItem {
  readonly id: string;
  readonly origin: 'file' | 'api';
  readonly config: Record<string, unknown>;
  readonly issuedKeys: readonly { readonly id: string; readonly createdAt?: string }[];
}

export interface ServiceItem {
  readonly name: string;
  readonly type: string;
  readonly origin: 'file' | 'api';
  readonly config: Record<string, unknown>;
  readonly status: ServiceStatus | null;
}

export interface UsageBody {
  readonly id: string;
  readonly live: Record<string, number>;
  readonly quota: null | {
    readonly bytes: number;
    readonly direction: string;
    readonly period: string;
    readonly used: number;
    readonly remaining: number;
  };
}

export interface RequestRow {
  readonly id: number;
  readonly ts: string;
  readonly service: string;
  readonly user: string | null;
  readonly channel: string | null;
  readonly endpoint: string;
  readonly model: string | null;
  readonly stream: boolean;
  readonly status: number;
  readonly totalTokens: number | null;
  readonly latencyMs: number;
  readonly [key: string]: unknown;
}

export interface LiveEvent {
  readonly type: string;
  readonly at: string;
  readonly [key: string]: unknown;
}
