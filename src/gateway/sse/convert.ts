import type { Dialect } from '../../dialects/types.js';
import type { TokenUsage } from '../response/usage.js';
import { AnthropicStreamDecoder } from './decode-anthropic.js';
import { ChatStreamDecoder } from './decode-chat.js';
import { GeminiStreamDecoder } from './decode-gemini.js';
import { AnthropicStreamEncoder } from './encode-anthropic.js';
import { ChatStreamEncoder } from './encode-chat.js';
import { GeminiStreamEncoder } from './encode-gemini.js';
import { ResponsesStreamEncoder } from './encode-responses.js';
import type { SseEvent } from './splitter.js';
import { parseData, type Json, type StreamDecoder, type StreamEncoder } from './stream-ir.js';

/**
 * Streamed-response conversion, event by event, inline (events are small): the upstream dialect's decoder drives
 * the client dialect's encoder through the IR's stream events (stream-ir.ts). `end()` returns null when the upstream
 * stopped before its stream was complete: the caller then sends an error event, never a clean end.
 */
export class StreamConverter {
  readonly decoder: StreamDecoder;
  readonly encoder: StreamEncoder;

  constructor(decoder: StreamDecoder, encoder: StreamEncoder) {
    this.decoder = decoder;
    this.encoder = encoder;
  }

  /** Set once the upstream sent its in-stream error event (already converted and written). */
  get failed(): boolean {
    return this.decoder.failed;
  }

  onEvent(ev: SseEvent, usage: TokenUsage): string {
    return this.decoder.onEvent(ev, usage, this.encoder);
  }

  end(usage: TokenUsage): string | null {
    return this.decoder.end(usage, this.encoder);
  }
}

/** The converter from an upstream dialect's stream to a client dialect's. */
export function streamConverter(from: Dialect, to: Dialect, model: string): StreamConverter {
  let decoder: StreamDecoder;
  if (from === 'anthropic-messages') decoder = new AnthropicStreamDecoder();
  else if (from === 'gemini-generate') decoder = new GeminiStreamDecoder();
  else decoder = new ChatStreamDecoder();
  let encoder: StreamEncoder;
  if (to === 'anthropic-messages') encoder = new AnthropicStreamEncoder(model);
  else if (to === 'openai-responses') encoder = new ResponsesStreamEncoder(model);
  else if (to === 'gemini-generate') encoder = new GeminiStreamEncoder(model);
  else encoder = new ChatStreamEncoder(model);
  return new StreamConverter(decoder, encoder);
}

/** Passthrough streams: read usage from the events that mention it, write nothing. */
export function readUsageFromEvent(ev: SseEvent, usage: TokenUsage): void {
  if (ev.data === '[DONE]') return;
  const d = parseData(ev.data);
  if (d === null) return;
  if (d.usage !== undefined) usage.read(d.usage);
  const m = d.message as Json | undefined;
  if (m && m.usage !== undefined) usage.read(m.usage);
  // Responses: response.completed carries the response with its usage.
  const r = d.response as Json | undefined;
  if (r && r.usage !== undefined && r.usage !== null) usage.read(r.usage);
  // Gemini: every chunk may carry usageMetadata; the last one's is the answer's.
  if (d.usageMetadata !== undefined) usage.readGemini(d.usageMetadata);
}
