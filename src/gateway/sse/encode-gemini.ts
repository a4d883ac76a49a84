import { geminiFinish, usageMetadata } from '../../dialects/ir/gemini.js';
import type { IrStop } from '../../dialects/ir/types.js';
import type { TokenUsage } from '../response/usage.js';
import type { StreamEncoder } from './stream-ir.js';

const TEXT_HEAD = 'data: {"candidates":[{"content":{"role":"model","parts":[{"text":';

/**
 * IR stream events → Gemini's streamGenerateContent (`alt=sse`) chunks: one GenerateContentResponse per text or
 * thought delta; a function call goes out whole once its arguments are complete (Gemini streams calls whole); the
 * last chunk has the finishReason and usageMetadata.
 */
export class GeminiStreamEncoder implements StreamEncoder {
  private id = '';
  private model: string;
  private stopReason: IrStop | null = null;
  /** The call being streamed (-1: none), its id, name and arguments so far. */
  private callIndex = -1;
  private callId = '';
  private callName = '';
  private callArgs = '';
  /** What follows a text chunk's parts: `]},"index":0}],"modelVersion":…,"responseId":…}` (built in start). */
  private textTail: string;

  constructor(model: string) {
    this.model = model;
    this.textTail = this.makeTextTail();
  }

  private makeTextTail(): string {
    return ']},"index":0}],"modelVersion":' + JSON.stringify(this.model) + ',"responseId":' + JSON.stringify(this.id)
      + '}\r\n\r\n';
  }

  private chunk(parts: unknown[], tail: Record<string, unknown> | null): string {
    const candidate: Record<string, unknown> = { content: { role: 'model', parts }, index: 0 };
    const body: Record<string, unknown> = { candidates: [candidate], modelVersion: this.model, responseId: this.id };
    if (tail !== null) {
      candidate.finishReason = tail.finishReason;
      body.usageMetadata = tail.usageMetadata;
    }
    return 'data: ' + JSON.stringify(body) + '\r\n\r\n';
  }

  start(id: string | null, model: string | null): string {
    if (id !== null) this.id = id;
    if (model !== null) this.model = model;
    this.textTail = this.makeTextTail();
    return '';
  }

  /** As chunk([{ text }], null), built as text (one per upstream event). */
  text(text: string): string {
    return this.flushCall() + TEXT_HEAD + JSON.stringify(text) + '}' + this.textTail;
  }

  thinking(text: string): string {
    return this.flushCall() + TEXT_HEAD + JSON.stringify(text) + ',"thought":true}' + this.textTail;
  }

  signature(): string {
    return '';
  }

  toolStart(index: number, id: string, name: string): string {
    const out = this.flushCall();
    this.callIndex = index;
    this.callId = id;
    this.callName = name;
    this.callArgs = '';
    return out;
  }

  toolArgs(index: number, json: string): string {
    if (index === this.callIndex) this.callArgs += json;
    return '';
  }

  private flushCall(): string {
    if (this.callIndex === -1) return '';
    this.callIndex = -1;
    let args: unknown;
    try {
      args = this.callArgs.length === 0 ? {} : JSON.parse(this.callArgs);
    } catch {
      // Arguments cut short by the upstream: Gemini clients expect an object.
      args = {};
    }
    return this.chunk([{ functionCall: { id: this.callId, name: this.callName, args } }], null);
  }

  stop(reason: IrStop): string {
    this.stopReason = reason;
    return '';
  }

  finish(usage: TokenUsage): string {
    const out = this.flushCall();
    const tail = {
      finishReason: geminiFinish(this.stopReason ?? 'end_turn'),
      usageMetadata: usageMetadata(usage.prompt ?? 0, usage.output, usage.cacheRead, usage.reasoning),
    };
    return out + this.chunk([{ text: '' }], tail);
  }

  error(type: string, message: string): string {
    return 'data: ' + JSON.stringify({ error: { code: 500, message, status: 'INTERNAL', reason: type } }) + '\r\n\r\n';
  }
}
