import type { RequestLogRow } from '../contracts/records.js';
import type { RequestLogColumns } from '../contracts/usage-log.js';

/**
 * Number columns per row: ts, latencyMs, ttfbMs, promptTokens, completionTokens, totalTokens, then the token classes
 * (input, cache read, cache write, output, reasoning) and costMicros (NaN = null).
 */
const NUMBERS = 12;
/**
 * Int columns per row: status, attempts, stream, then string ids of service, user, channel, endpoint, model, error,
 * client (-1 = null), then estimated.
 */
const INTS = 11;
/** String columns, in insert order: service, user, channel, endpoint, model, error, client. */
export const STRING_COLUMNS = 7;
const ERROR_BIT = 1 << 5;
const CLIENT_BIT = 1 << 6;

/**
 * What crosses to the writer thread (and from a fleet's worker to its primary): two typed arrays (copied by memcpy)
 * and the batch's distinct strings.
 */
export type RequestLogBatchMessage = RequestLogColumns;

/**
 * A batch of request-log rows in columns. A row costs a few typed-array stores and six Map lookups (its strings
 * repeat: service, user, channel, endpoint, model), so queued rows are not objects the garbage collector has to
 * move, and the batch crosses to the writer thread as two memcpy'd arrays plus a handful of strings instead of a
 * structured clone of 500 objects (~2 µs a row on the event loop).
 */
export class RequestLogBatch {
  readonly capacity: number;
  length = 0;
  readonly numbers: Float64Array;
  readonly ints: Int32Array;
  readonly strings: string[];
  private readonly ids: Map<string, number>;
  /** Per string column, the last value added and its id (a value never seen is undefined, so it never matches). */
  private readonly lastValues: (string | null | undefined)[] = [
    undefined, undefined, undefined, undefined, undefined, undefined, undefined,
  ];
  private readonly lastIds = new Int32Array(STRING_COLUMNS);
  /** append()'s map from a source batch's string ids to this batch's (-1: not looked up yet), reused. */
  private remap = new Int32Array(16);

  constructor(capacity: number, message?: RequestLogBatchMessage) {
    this.capacity = capacity;
    this.ids = new Map();
    if (message === undefined) {
      this.numbers = new Float64Array(capacity * NUMBERS);
      this.ints = new Int32Array(capacity * INTS);
      this.strings = [];
    } else {
      this.length = message.length;
      this.numbers = message.numbers;
      this.ints = message.ints;
      this.strings = message.strings;
    }
  }

  static fromMessage(message: RequestLogBatchMessage): RequestLogBatch {
    return new RequestLogBatch(message.length, message);
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  add(row: RequestLogRow): void {
    const n = this.length * NUMBERS;
    const numbers = this.numbers;
    numbers[n] = row.ts;
    numbers[n + 1] = row.latencyMs;
    numbers[n + 2] = row.ttfbMs ?? NaN;
    numbers[n + 3] = row.promptTokens ?? NaN;
    numbers[n + 4] = row.completionTokens ?? NaN;
    numbers[n + 5] = row.totalTokens ?? NaN;
    numbers[n + 6] = row.inputTokens ?? NaN;
    numbers[n + 7] = row.cacheReadTokens ?? NaN;
    numbers[n + 8] = row.cacheWriteTokens ?? NaN;
    numbers[n + 9] = row.outputTokens ?? NaN;
    numbers[n + 10] = row.reasoningTokens ?? NaN;
    numbers[n + 11] = row.costMicros ?? NaN;
    const k = this.length * INTS;
    const ints = this.ints;
    ints[k] = row.status;
    ints[k + 1] = row.attempts;
    ints[k + 2] = row.stream ? 1 : 0;
    ints[k + 3] = this.idAt(0, row.service);
    ints[k + 4] = this.idAt(1, row.user);
    ints[k + 5] = this.idAt(2, row.channel);
    ints[k + 6] = this.idAt(3, row.endpoint);
    ints[k + 7] = this.idAt(4, row.model);
    ints[k + 8] = this.idAt(5, row.error);
    ints[k + 9] = this.idAt(6, row.client);
    ints[k + 10] = row.estimated ? 1 : 0;
    this.length++;
  }

  /**
   * Copies rows of another batch's columns from row `from` until this batch is full; returns the rows copied. The
   * numbers and ints are copied whole (two memcpy); only the string ids are mapped, each distinct string looked up
   * once per call: what a fleet's primary does with a worker's rows, instead of one object per row.
   */
  append(src: RequestLogColumns, from: number): number {
    const n = Math.min(src.length - from, this.capacity - this.length);
    if (n <= 0) return 0;
    this.numbers.set(src.numbers.subarray(from * NUMBERS, (from + n) * NUMBERS), this.length * NUMBERS);
    const ints = this.ints;
    const at = this.length * INTS;
    ints.set(src.ints.subarray(from * INTS, (from + n) * INTS), at);
    const strings = src.strings;
    if (this.remap.length < strings.length) this.remap = new Int32Array(strings.length * 2);
    const remap = this.remap;
    remap.fill(-1, 0, strings.length);
    const end = at + n * INTS;
    for (let k = at + 3; k < end; k += INTS) {
      for (let c = 0; c < STRING_COLUMNS; c++) {
        const id = ints[k + c]!;
        if (id < 0) continue;
        let mine = remap[id]!;
        if (mine < 0) mine = remap[id] = this.id(strings[id]!);
        ints[k + c] = mine;
      }
    }
    this.length += n;
    return n;
  }

  /** Empties the batch for reuse (its arrays stay). */
  clear(): void {
    this.length = 0;
    this.strings.length = 0;
    this.ids.clear();
    this.lastValues.fill(undefined);
  }

  /** The id of string column `column`'s value: most rows repeat the row before them, so that is checked first. */
  private idAt(column: number, value: string | null): number {
    if (value === this.lastValues[column]) return this.lastIds[column]!;
    const id = this.id(value);
    this.lastValues[column] = value;
    this.lastIds[column] = id;
    return id;
  }

  private id(value: string | null): number {
    if (value === null) return -1;
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(value);
      this.ids.set(value, id);
    }
    return id;
  }

  private str(id: number): string | null {
    return id < 0 ? null : this.strings[id]!;
  }

  /**
   * Writes row `i`'s insert parameters into `out` from `at`, in column order (0/1 for `stream`), leaving out the
   * string columns whose bit is set in `shared` (bound once for many rows instead). Returns the index after the last.
   */
  params(i: number, out: unknown[], at: number, shared: number): number {
    const n = i * NUMBERS;
    const k = i * INTS;
    const numbers = this.numbers;
    const ints = this.ints;
    out[at++] = numbers[n];
    // service, user, channel, endpoint, model; the error and the client come later
    for (let c = 0; c < 5; c++) if ((shared & (1 << c)) === 0) out[at++] = this.str(ints[k + 3 + c]!);
    out[at++] = ints[k + 2];
    out[at++] = ints[k];
    out[at++] = orNull(numbers[n + 3]!);
    out[at++] = orNull(numbers[n + 4]!);
    out[at++] = orNull(numbers[n + 5]!);
    out[at++] = numbers[n + 1];
    out[at++] = orNull(numbers[n + 2]!);
    out[at++] = ints[k + 1];
    if ((shared & ERROR_BIT) === 0) out[at++] = this.str(ints[k + 8]!);
    for (let c = 6; c < NUMBERS; c++) out[at++] = orNull(numbers[n + c]!);
    out[at++] = ints[k + 10];
    if ((shared & CLIENT_BIT) === 0) out[at++] = this.str(ints[k + 9]!);
    return at;
  }

  /**
   * The string columns (bit c for column c of service, user, channel, endpoint, model, error, client) holding one value
   * in every row from `from` to `to`: a gateway's rows mostly repeat them, and binding a string costs more than
   * comparing ids.
   */
  sharedColumns(from: number, to: number): number {
    const ints = this.ints;
    let shared = 0;
    for (let c = 0; c < STRING_COLUMNS; c++) {
      const first = ints[from * INTS + 3 + c];
      let k = (from + 1) * INTS + 3 + c;
      const end = to * INTS;
      while (k < end && ints[k] === first) k += INTS;
      if (k >= end) shared |= 1 << c;
    }
    return shared;
  }

  /** String column `column`'s value in row `i` (columns as in sharedColumns). */
  stringAt(i: number, column: number): string | null {
    return this.str(this.ints[i * INTS + 3 + column]!);
  }

  /** The fields a log line about row `i` needs. */
  describe(i: number): { service: string | null; channel: string | null; status: number } {
    const k = i * INTS;
    return { service: this.str(this.ints[k + 3]!), channel: this.str(this.ints[k + 5]!), status: this.ints[k]! };
  }

  toMessage(): RequestLogBatchMessage {
    return {
      length: this.length,
      numbers: this.numbers.subarray(0, this.length * NUMBERS),
      ints: this.ints.subarray(0, this.length * INTS),
      strings: this.strings,
    };
  }
}

function orNull(value: number): number | null {
  return Number.isNaN(value) ? null : value;
}
