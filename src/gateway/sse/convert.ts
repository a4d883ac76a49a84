import type { SseEvent } from './splitter.js';
import type { TokenUsage } from '../response/usage.js';

/**
 * Streamed-response conversion, event by event, inline (events are small). Each converter turns one upstream event
 * into the client dialect's text, reads usage on the way, and writes the proper ending. `end()` returns null when
 * the upstream stopped before its stream was complete: the caller then sends an error event, never a clean end.
 */
export interface StreamConverter {
  onEvent(ev: SseEvent, usage: TokenUsage): string;
  end(usage: TokenUsage): string | null;
  /** Set once the upstream sent its in-stream error event (already converted and written). */
  readonly failed: boolean;
}

const STOP_TO_FINISH: Readonly<Record<string, string>> = {
  end_turn: 'stop', stop_sequence: 'stop', max_tokens: 'length', tool_use: 'tool_calls', refusal: 'content_filter',
  pause_turn: 'stop',
};
const FINISH_TO_STOP: Readonly<Record<string, string>> = {
  stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', function_call: 'tool_use', content_filter: 'refusal',
};

type Json = Record<string, unknown>;

function parseData(data: string): Json | null {
  try {
    const v: unknown = JSON.parse(data);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
  } catch {
    return null;
  }
}

/** Anthropic Messages stream → OpenAI chat.completion.chunk stream. */
export class AnthropicToOpenAIStream implements StreamConverter {
  private id = 'chatcmpl-tidegate';
  private model: string;
  private readonly created = Math.floor(Date.now() / 1000);
  /** Anthropic content-block index → OpenAI tool_calls index (-1: not a tool block). */
  private readonly toolIndex: number[] = [];
  private tools = 0;
  private stopped = false;
  failed = false;

  constructor(model: string) {
    this.model = model;
  }

  private chunk(delta: Json, finish: string | null): string {
    return 'data: ' + JSON.stringify({
      id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    }) + '\n\n';
  }

  onEvent(ev: SseEvent, usage: TokenUsage): string {
    const d = parseData(ev.data);
    if (d === null) return '';
    const type = typeof d.type === 'string' ? d.type : ev.event;
    switch (type) {
      case 'message_start': {
        const m = d.message as Json | undefined;
        if (m) {
          if (typeof m.id === 'string') this.id = m.id;
          if (typeof m.model === 'string') this.model = m.model;
          usage.read(m.usage);
        }
        return this.chunk({ role: 'assistant', content: '' }, null);
      }
      case 'content_block_start': {
        const block = d.content_block as Json | undefined;
        const index = typeof d.index === 'number' ? d.index : 0;
        if (block && block.type === 'tool_use') {
          const k = this.tools++;
          this.toolIndex[index] = k;
          return this.chunk({
            tool_calls: [{ index: k, id: block.id, type: 'function', function: { name: block.name, arguments: '' } }],
          }, null);
        }
        this.toolIndex[index] = -1;
        if (block && block.type === 'text' && typeof block.text === 'string' && block.text.length > 0) {
          return this.chunk({ content: block.text }, null);
        }
        return '';
      }
      case 'content_block_delta': {
        const delta = d.delta as Json | undefined;
        if (!delta) return '';
        if (delta.type === 'text_delta' && typeof delta.text === 'string') {
          return this.chunk({ content: delta.text }, null);
        }
        if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string') {
          const k = this.toolIndex[typeof d.index === 'number' ? d.index : 0] ?? 0;
          return this.chunk({ tool_calls: [{ index: k, function: { arguments: delta.partial_json } }] }, null);
        }
        return '';
      }
      case 'message_delta': {
        usage.read(d.usage);
        const delta = d.delta as Json | undefined;
        const stop = delta && typeof delta.stop_reason === 'string' ? delta.stop_reason : null;
        return stop === null ? '' : this.chunk({}, STOP_TO_FINISH[stop] ?? 'stop');
      }
      case 'message_stop': {
        this.stopped = true;
        usage.finish();
        const u = {
          prompt_tokens: usage.prompt ?? 0, completion_tokens: usage.completion ?? 0, total_tokens: usage.total ?? 0,
        };
        return 'data: ' + JSON.stringify({
          id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [], usage: u,
        })
          + '\n\ndata: [DONE]\n\n';
      }
      case 'error': {
        this.failed = true;
        const e = (d.error as Json | undefined) ?? {};
        return 'data: ' + JSON.stringify({
          error: {
            type: typeof e.type === 'string' ? e.type : 'api_error', code: null,
            message: typeof e.message === 'string' ? e.message : 'upstream stream error',
          },
        }) + '\n\n';
      }
      default:
        return '';
    }
  }

  end(): string | null {
    return this.stopped || this.failed ? '' : null;
  }
}

/** OpenAI chat.completion.chunk stream → Anthropic Messages stream. */
export class OpenAIToAnthropicStream implements StreamConverter {
  private started = false;
  private finished = false;
  /** Index of the open content block, or -1. */
  private openBlock = -1;
  private openIsText = false;
  private blocks = 0;
  private stopReason: string | null = null;
  private readonly model: string;
  failed = false;

  constructor(model: string) {
    this.model = model;
  }

  private event(name: string, body: Json): string {
    return 'event: ' + name + '\ndata: ' + JSON.stringify(body) + '\n\n';
  }

  private start(d: Json): string {
    this.started = true;
    return this.event('message_start', {
      type: 'message_start',
      message: {
        id: typeof d.id === 'string' ? d.id : 'msg_tidegate', type: 'message', role: 'assistant',
        model: typeof d.model === 'string' ? d.model : this.model, content: [], stop_reason: null, stop_sequence: null,
        usage: { input_tokens: 0, output_tokens: 0 },
      },
    });
  }

  private closeBlock(): string {
    if (this.openBlock === -1) return '';
    const out = this.event('content_block_stop', { type: 'content_block_stop', index: this.openBlock });
    this.openBlock = -1;
    return out;
  }

  onEvent(ev: SseEvent, usage: TokenUsage): string {
    if (ev.data === '[DONE]') return this.finish(usage);
    const d = parseData(ev.data);
    if (d === null) return '';
    if (d.error !== undefined) {
      this.failed = true;
      const e = (d.error as Json | null) ?? {};
      return this.event('error', {
        type: 'error',
        error: {
          type: typeof e.type === 'string' ? e.type : 'api_error',
          message: typeof e.message === 'string' ? e.message : 'upstream stream error',
        },
      });
    }
    let out = this.started ? '' : this.start(d);
    if (d.usage) usage.read(d.usage);
    const choices = Array.isArray(d.choices) ? (d.choices as Json[]) : [];
    const choice = choices[0];
    if (!choice) return out;
    const delta = (choice.delta as Json | undefined) ?? {};
    if (typeof delta.content === 'string' && delta.content.length > 0) {
      if (this.openBlock === -1 || !this.openIsText) {
        out += this.closeBlock();
        this.openBlock = this.blocks++;
        this.openIsText = true;
        out += this.event('content_block_start', {
          type: 'content_block_start', index: this.openBlock, content_block: { type: 'text', text: '' },
        });
      }
      out += this.event('content_block_delta', {
        type: 'content_block_delta', index: this.openBlock, delta: { type: 'text_delta', text: delta.content },
      });
    }
    if (Array.isArray(delta.tool_calls)) {
      for (const tc of delta.tool_calls as Json[]) {
        const fn = (tc.function as Json | undefined) ?? {};
        if (typeof tc.id === 'string') {
          out += this.closeBlock();
          this.openBlock = this.blocks++;
          this.openIsText = false;
          out += this.event('content_block_start', {
            type: 'content_block_start', index: this.openBlock,
            content_block: { type: 'tool_use', id: tc.id, name: typeof fn.name === 'string' ? fn.name : '', input: {} },
          });
        }
        if (typeof fn.arguments === 'string' && fn.arguments.length > 0 && this.openBlock !== -1) {
          out += this.event('content_block_delta', {
            type: 'content_block_delta', index: this.openBlock,
            delta: { type: 'input_json_delta', partial_json: fn.arguments },
          });
        }
      }
    }
    if (typeof choice.finish_reason === 'string') this.stopReason = FINISH_TO_STOP[choice.finish_reason] ?? 'end_turn';
    return out;
  }

  private finish(usage: TokenUsage): string {
    if (this.finished) return '';
    this.finished = true;
    usage.finish();
    let out = this.started ? '' : this.start({});
    out += this.closeBlock();
    out += this.event('message_delta', {
      type: 'message_delta', delta: { stop_reason: this.stopReason ?? 'end_turn', stop_sequence: null },
      usage: { input_tokens: usage.prompt ?? 0, output_tokens: usage.completion ?? 0 },
    });
    out += this.event('message_stop', { type: 'message_stop' });
    return out;
  }

  end(usage: TokenUsage): string | null {
    if (this.failed || this.finished) return '';
    // Some OpenAI-compatible servers end without [DONE]; a finish_reason means the answer was complete.
    if (this.stopReason !== null) return this.finish(usage);
    return null;
  }
}

/** Passthrough streams: read usage from the events that mention it, write nothing. */
export function readUsageFromEvent(ev: SseEvent, usage: TokenUsage): void {
  if (ev.data === '[DONE]') return;
  const d = parseData(ev.data);
  if (d === null) return;
  if (d.usage !== undefined) usage.read(d.usage);
  const m = d.message as Json | undefined;
  if (m && m.usage !== undefined) usage.read(m.usage);
}
