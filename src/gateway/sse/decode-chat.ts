import { FINISH_TO_STOP } from '../../dialects/ir/types.js';
import type { TokenUsage } from '../response/usage.js';
import type { SseEvent } from './splitter.js';
import { errorFields, parseData, type Json, type StreamDecoder, type StreamEncoder } from './stream-ir.js';

/** An OpenAI chat.completion.chunk stream → IR stream events. */
export class ChatStreamDecoder implements StreamDecoder {
  private started = false;
  private finished = false;
  private stopSeen = false;
  failed = false;

  onEvent(ev: SseEvent, usage: TokenUsage, out: StreamEncoder): string {
    if (ev.data === '[DONE]') return this.finish(usage, out);
    const d = parseData(ev.data);
    if (d === null) return '';
    if (d.error !== undefined) {
      this.failed = true;
      const e = errorFields(d.error as Json | null);
      return out.error(e.type, e.message);
    }
    let text = '';
    if (!this.started) {
      this.started = true;
      text = out.start(typeof d.id === 'string' ? d.id : null, typeof d.model === 'string' ? d.model : null);
    }
    if (d.usage) usage.read(d.usage);
    const choices = Array.isArray(d.choices) ? (d.choices as Json[]) : [];
    const choice = choices[0];
    if (!choice) return text;
    const delta = (choice.delta as Json | undefined) ?? {};
    const reasoning = delta.reasoning_content;
    if (typeof reasoning === 'string' && reasoning.length > 0) text += out.thinking(reasoning);
    if (typeof delta.content === 'string' && delta.content.length > 0) text += out.text(delta.content);
    if (Array.isArray(delta.tool_calls)) {
      const calls = delta.tool_calls as Json[];
      for (let i = 0; i < calls.length; i++) {
        const tc = calls[i]!;
        const fn = (tc.function as Json | undefined) ?? {};
        const index = typeof tc.index === 'number' ? tc.index : 0;
        if (typeof tc.id === 'string') text += out.toolStart(index, tc.id, typeof fn.name === 'string' ? fn.name : '');
        if (typeof fn.arguments === 'string' && fn.arguments.length > 0) text += out.toolArgs(index, fn.arguments);
      }
    }
    if (typeof choice.finish_reason === 'string') {
      this.stopSeen = true;
      text += out.stop(FINISH_TO_STOP[choice.finish_reason] ?? 'end_turn');
    }
    return text;
  }

  private finish(usage: TokenUsage, out: StreamEncoder): string {
    if (this.finished) return '';
    this.finished = true;
    usage.finish();
    let text = '';
    if (!this.started) {
      this.started = true;
      text = out.start(null, null);
    }
    return text + out.finish(usage);
  }

  end(usage: TokenUsage, out: StreamEncoder): string | null {
    if (this.failed || this.finished) return '';
    // Some OpenAI-compatible servers end without [DONE]; a finish_reason means the answer was complete.
    if (this.stopSeen) return this.finish(usage, out);
    return null;
  }
}
