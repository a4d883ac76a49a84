import type { IrStop } from '../../dialects/ir/types.js';
import type { TokenUsage } from '../response/usage.js';
import type { StreamEncoder } from './stream-ir.js';

const NONE = 0;
const TEXT = 1;
const THINKING = 2;
const TOOL = 3;

/*
 * The delta events, one per upstream event, are built as text: JSON.stringify's bytes for
 * `{ type: 'content_block_delta', index, delta: { type, <field>: value } }`.
 */
const DELTA_HEAD = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":';
const TEXT_DELTA = ',"delta":{"type":"text_delta","text":';
const THINKING_DELTA = ',"delta":{"type":"thinking_delta","thinking":';
const SIGNATURE_DELTA = ',"delta":{"type":"signature_delta","signature":';
const JSON_DELTA = ',"delta":{"type":"input_json_delta","partial_json":';

/** IR stream events → Anthropic Messages events (content blocks opened and closed in order). */
export class AnthropicStreamEncoder implements StreamEncoder {
  /** Index of the open content block, or -1; `openKind` says what it is. */
  private openBlock = -1;
  private openKind = NONE;
  private blocks = 0;
  /** Tool-call index → its content block. */
  private readonly toolBlock: number[] = [];
  private stopReason: IrStop | null = null;
  private readonly model: string;

  constructor(model: string) {
    this.model = model;
  }

  private event(name: string, body: Record<string, unknown>): string {
    return 'event: ' + name + '\ndata: ' + JSON.stringify(body) + '\n\n';
  }

  start(id: string | null, model: string | null): string {
    return this.event('message_start', {
      type: 'message_start',
      message: {
        id: id ?? 'msg_tidegate', type: 'message', role: 'assistant', model: model ?? this.model, content: [],
        stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 },
      },
    });
  }

  private closeBlock(): string {
    if (this.openBlock === -1) return '';
    const out = this.event('content_block_stop', { type: 'content_block_stop', index: this.openBlock });
    this.openBlock = -1;
    this.openKind = NONE;
    return out;
  }

  private open(kind: number, block: Record<string, unknown>): string {
    const out = this.closeBlock();
    this.openBlock = this.blocks++;
    this.openKind = kind;
    const start = { type: 'content_block_start', index: this.openBlock, content_block: block };
    return out + this.event('content_block_start', start);
  }

  /** One content_block_delta as text: `delta` is the delta object's type and field name, `value` its string. */
  private delta(index: number, delta: string, value: string): string {
    return DELTA_HEAD + index + delta + JSON.stringify(value) + '}}\n\n';
  }

  text(text: string): string {
    const out = this.openKind === TEXT ? '' : this.open(TEXT, { type: 'text', text: '' });
    return out + this.delta(this.openBlock, TEXT_DELTA, text);
  }

  thinking(text: string): string {
    const out = this.openKind === THINKING ? '' : this.open(THINKING, { type: 'thinking', thinking: '' });
    return out + this.delta(this.openBlock, THINKING_DELTA, text);
  }

  signature(signature: string): string {
    if (this.openKind !== THINKING) return '';
    return this.delta(this.openBlock, SIGNATURE_DELTA, signature);
  }

  toolStart(index: number, id: string, name: string): string {
    const out = this.open(TOOL, { type: 'tool_use', id, name, input: {} });
    this.toolBlock[index] = this.openBlock;
    return out;
  }

  toolArgs(index: number, json: string): string {
    const block = this.toolBlock[index];
    if (block === undefined) return '';
    return this.delta(block, JSON_DELTA, json);
  }

  stop(reason: IrStop): string {
    this.stopReason = reason;
    return '';
  }

  finish(usage: TokenUsage): string {
    let out = this.closeBlock();
    out += this.event('message_delta', {
      type: 'message_delta', delta: { stop_reason: this.stopReason ?? 'end_turn', stop_sequence: null },
      usage: anthropicUsage(usage),
    });
    return out + this.event('message_stop', { type: 'message_stop' });
  }

  error(type: string, message: string): string {
    return this.event('error', { type: 'error', error: { type, message } });
  }
}

/** Anthropic's usage: input without cached tokens; cache reads and writes apart (when there are any). */
function anthropicUsage(usage: TokenUsage): Record<string, number> {
  const u: Record<string, number> = { input_tokens: usage.input, output_tokens: usage.completion ?? 0 };
  if (usage.cacheRead > 0) u.cache_read_input_tokens = usage.cacheRead;
  if (usage.cacheWrite > 0) u.cache_creation_input_tokens = usage.cacheWrite;
  return u;
}
