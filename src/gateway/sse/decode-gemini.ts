import { stopOf } from '../../dialects/ir/gemini.js';
import type { TokenUsage } from '../response/usage.js';
import type { SseEvent } from './splitter.js';
import { errorFields, parseData, type Json, type StreamDecoder, type StreamEncoder } from './stream-ir.js';

/**
 * A Gemini streamGenerateContent (`alt=sse`) stream → IR stream events. Each chunk is a whole
 * GenerateContentResponse; a function call arrives whole, so it becomes a tool start and its arguments at once.
 * The stream has no end marker: the chunk with a finishReason makes it complete.
 */
export class GeminiStreamDecoder implements StreamDecoder {
  private started = false;
  private stopped = false;
  private calls = 0;
  failed = false;

  onEvent(ev: SseEvent, usage: TokenUsage, out: StreamEncoder): string {
    const d = parseData(ev.data);
    if (d === null) return '';
    if (d.error !== undefined) {
      this.failed = true;
      const e = (d.error as Json | null) ?? {};
      const f = errorFields({ type: e.status, message: e.message });
      return out.error(f.type, f.message);
    }
    let text = '';
    if (!this.started) {
      this.started = true;
      const id = typeof d.responseId === 'string' ? d.responseId : null;
      text = out.start(id, typeof d.modelVersion === 'string' ? d.modelVersion : null);
    }
    if (d.usageMetadata !== undefined) usage.readGemini(d.usageMetadata);
    const candidates = Array.isArray(d.candidates) ? (d.candidates as Json[]) : [];
    const c = candidates[0];
    if (!c) return text;
    const content = c.content as Json | undefined;
    const parts = content && Array.isArray(content.parts) ? (content.parts as Json[]) : [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (typeof p.text === 'string' && p.text.length > 0) {
        text += p.thought === true ? out.thinking(p.text) : out.text(p.text);
      }
      const call = p.functionCall as Json | undefined;
      if (call) {
        const k = this.calls++;
        const name = typeof call.name === 'string' ? call.name : '';
        const id = typeof call.id === 'string' ? call.id : `call_${name}_${k}`;
        text += out.toolStart(k, id, name);
        text += out.toolArgs(k, JSON.stringify(call.args ?? {}));
      }
    }
    if (typeof c.finishReason === 'string') {
      this.stopped = true;
      text += out.stop(stopOf(c.finishReason, this.calls > 0));
    }
    return text;
  }

  end(usage: TokenUsage, out: StreamEncoder): string | null {
    if (this.failed) return '';
    if (!this.stopped) return null;
    usage.finish();
    return out.finish(usage);
  }
}
