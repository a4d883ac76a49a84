import type { IrStop } from '../../dialects/ir/types.js';
import type { TokenUsage } from '../response/usage.js';
import type { SseEvent } from './splitter.js';
import { errorFields, parseData, type Json, type StreamDecoder, type StreamEncoder } from './stream-ir.js';

/** An Anthropic Messages event stream → IR stream events. */
export class AnthropicStreamDecoder implements StreamDecoder {
  /** Anthropic content-block index → the answer's tool-call index (-1: not a tool block). */
  private readonly toolIndex: number[] = [];
  private tools = 0;
  private stopped = false;
  failed = false;

  onEvent(ev: SseEvent, usage: TokenUsage, out: StreamEncoder): string {
    const d = parseData(ev.data);
    if (d === null) return '';
    const type = typeof d.type === 'string' ? d.type : ev.event;
    switch (type) {
      case 'message_start': {
        const m = d.message as Json | undefined;
        let id: string | null = null;
        let model: string | null = null;
        if (m) {
          if (typeof m.id === 'string') id = m.id;
          if (typeof m.model === 'string') model = m.model;
          usage.read(m.usage);
        }
        return out.start(id, model);
      }
      case 'content_block_start': {
        const block = d.content_block as Json | undefined;
        const index = typeof d.index === 'number' ? d.index : 0;
        if (block && block.type === 'tool_use') {
          const k = this.tools++;
          this.toolIndex[index] = k;
          return out.toolStart(k, String(block.id), String(block.name));
        }
        this.toolIndex[index] = -1;
        if (block && block.type === 'text' && typeof block.text === 'string' && block.text.length > 0) {
          return out.text(block.text);
        }
        if (block && block.type === 'thinking' && typeof block.thinking === 'string' && block.thinking.length > 0) {
          return out.thinking(block.thinking);
        }
        return '';
      }
      case 'content_block_delta': {
        const delta = d.delta as Json | undefined;
        if (!delta) return '';
        switch (delta.type) {
          case 'text_delta': return typeof delta.text === 'string' ? out.text(delta.text) : '';
          case 'input_json_delta': {
            if (typeof delta.partial_json !== 'string') return '';
            return out.toolArgs(this.toolIndex[typeof d.index === 'number' ? d.index : 0] ?? 0, delta.partial_json);
          }
          case 'thinking_delta': return typeof delta.thinking === 'string' ? out.thinking(delta.thinking) : '';
          case 'signature_delta': return typeof delta.signature === 'string' ? out.signature(delta.signature) : '';
          default: return '';
        }
      }
      case 'message_delta': {
        usage.read(d.usage);
        const delta = d.delta as Json | undefined;
        const stop = delta && typeof delta.stop_reason === 'string' ? delta.stop_reason : null;
        return stop === null ? '' : out.stop(stop as IrStop);
      }
      case 'message_stop':
        this.stopped = true;
        usage.finish();
        return out.finish(usage);
      case 'error': {
        this.failed = true;
        const e = errorFields(d.error as Json | undefined);
        return out.error(e.type, e.message);
      }
      default:
        return '';
    }
  }

  end(): string | null {
    return this.stopped || this.failed ? '' : null;
  }
}
