import type { IrStop } from '../../dialects/ir/types.js';
import type { TokenUsage } from '../response/usage.js';
import type { SseEvent } from './splitter.js';

/*
 * Streams convert through the IR as well: a decoder per upstream dialect reads its events and calls the stream
 * events below on an encoder per client dialect, which returns the client's text (2N classes, not N²). Calls, not
 * event objects: nothing is allocated per event between the two.
 */

/** The IR's stream events, each returning the client dialect's SSE text ('' for none). */
export interface StreamEncoder {
  /** The first event; id and model when the upstream said them. */
  start(id: string | null, model: string | null): string;
  text(text: string): string;
  thinking(text: string): string;
  /** The signature of the thinking just streamed (Anthropic's, passed back unchanged in later turns). */
  signature(signature: string): string;
  /** A tool call starts; `index` is the call's place among the answer's calls (stable across its deltas). */
  toolStart(index: number, id: string, name: string): string;
  toolArgs(index: number, json: string): string;
  /** Why the model stopped (said before the end). */
  stop(reason: IrStop): string;
  /** The clean end, with the answer's usage (already finished). */
  finish(usage: TokenUsage): string;
  /** The upstream's in-stream error. */
  error(type: string, message: string): string;
}

/** Reads one upstream dialect's events and drives an encoder. */
export interface StreamDecoder {
  onEvent(ev: SseEvent, usage: TokenUsage, out: StreamEncoder): string;
  /** At the upstream's end: the tail to write, or null when the stream stopped before it was complete. */
  end(usage: TokenUsage, out: StreamEncoder): string | null;
  readonly failed: boolean;
}

export type Json = Record<string, unknown>;

export function parseData(data: string): Json | null {
  try {
    const v: unknown = JSON.parse(data);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
  } catch {
    return null;
  }
}

export function errorFields(e: Json | null | undefined): { type: string; message: string } {
  const o = e ?? {};
  return {
    type: typeof o.type === 'string' ? o.type : 'api_error',
    message: typeof o.message === 'string' ? o.message : 'upstream stream error',
  };
}
