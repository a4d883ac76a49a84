import type { JsonBodyProblem } from '../errors.js';
import type { ChatDialect, Dialect, RequestSummary } from '../dialects/types.js';
import type { GeoSpec } from '../geo/database.js';
import type { CredentialIndexData } from '../credentials/types.js';

/**
 * Messages between the main thread and the pool's workers. Inputs carry Buffers by transfer; outputs are small
 * (a summary, a list of country codes, an index) or one Buffer moved back. Failures of the input travel as a
 * plain `TaskProblem` (structured clone drops custom error fields), turned back into JsonBodyError on the main
 * thread; anything thrown is a fault of the task itself.
 */
export interface TaskProblem {
  readonly problem: JsonBodyProblem;
  readonly path: string;
  readonly position: number | null;
  readonly message: string;
}

export interface SummarizeTask {
  readonly dialect: Dialect;
  readonly body: Uint8Array;
  readonly sessionField: string | null;
}
/** `body` is the input, moved back: the caller's bytes (transfer) or a buffer to recycle (copy). */
export type SummarizeResult =
  | { readonly ok: true; readonly summary: RequestSummary; readonly body: Uint8Array }
  | ({ readonly ok: false } & TaskProblem);

export interface ConvertTask {
  readonly from: ChatDialect;
  readonly to: ChatDialect;
  readonly body: Uint8Array;
}
/** The converted body (moved) and the input moved back for recycling (null when the output reuses it). */
export type ConvertResult =
  | { readonly ok: true; readonly body: Uint8Array; readonly input: Uint8Array | null }
  | ({ readonly ok: false } & TaskProblem);

export interface ScanTask {
  readonly dir: string;
  readonly files: readonly string[] | null;
  readonly concurrency: number;
}

export type ScanResult = { readonly ok: true; readonly data: CredentialIndexData } | { readonly ok: false; readonly dir: string; readonly message: string };

export interface GeoTask {
  readonly spec: GeoSpec;
  readonly ips: readonly string[];
}
export type GeoResult = { readonly ok: true; readonly countries: (string | null)[] } | { readonly ok: false; readonly file: string; readonly message: string };

export interface GeoOpenResult {
  readonly ok: boolean;
  readonly file: string;
  readonly message: string;
}

/**
 * Diagnostic task: parks a worker until `flag[0]` becomes non-zero (tests and the bench fill the pool with it).
 * The worker sets `flag[1]` to 1 once it is parked. `flag[0]` = 1 finishes, 2 exits the thread like a crash.
 */
export interface HoldTask {
  readonly flag: SharedArrayBuffer;
  readonly maxMs: number;
}

/** Names of the worker's exports, used as Piscina's `name` run option. */
export const TASK = {
  summarize: 'summarize',
  convertRequest: 'convertRequest',
  convertResponse: 'convertResponse',
  scanCredentials: 'scanCredentials',
  geoLookup: 'geoLookup',
  geoOpen: 'geoOpen',
  hold: 'hold',
} as const;
export type TaskName = (typeof TASK)[keyof typeof TASK];
