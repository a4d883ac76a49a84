import { STOP_TO_FINISH, type IrStop } from '../../dialects/ir/types.js';
import type { TokenUsage } from '../response/usage.js';
import type { StreamEncoder } from './stream-ir.js';

/** What follows a delta when the chunk has no finish reason. */
const OPEN_TAIL = ',"logprobs":null,"finish_reason":null}]}\n\n';
const START_DELTA = '{"role":"assistant","content":""}';

/**
 * IR stream events → OpenAI chat.completion.chunk events. Each chunk is one string concatenation: the part before
 * the delta (id, created, model) is built once per stream, and only the event's own strings go through
 * JSON.stringify. The bytes are JSON.stringify's of `{ id, object, created, model, choices: [{ index: 0, delta,
 * logprobs: null, finish_reason }] }`.
 */
export class ChatStreamEncoder implements StreamEncoder {
  private id = 'chatcmpl-tidegate';
  private model: string;
  private readonly created = Math.floor(Date.now() / 1000);
  /**
   * `data: {"id":…,"choices":[{"index":0,"delta":` for this stream's id and model; made by start(), which decoders
   * call first (else when a delta needs it), so it is made once per stream, with the upstream's id and model.
   */
  private headText = '';

  constructor(model: string) {
    this.model = model;
  }

  private get head(): string {
    if (this.headText.length === 0) {
      this.headText = 'data: {"id":' + JSON.stringify(this.id) + ',"object":"chat.completion.chunk","created":'
        + this.created + ',"model":' + JSON.stringify(this.model) + ',"choices":[{"index":0,"delta":';
    }
    return this.headText;
  }

  start(id: string | null, model: string | null): string {
    if (id !== null) this.id = id;
    if (model !== null) this.model = model;
    if (id !== null || model !== null) this.headText = '';
    return this.head + START_DELTA + OPEN_TAIL;
  }

  text(text: string): string {
    return this.head + '{"content":' + JSON.stringify(text) + '}' + OPEN_TAIL;
  }

  /** DeepSeek's and others' `reasoning_content` delta: the de facto Chat field for reasoning. */
  thinking(text: string): string {
    return this.head + '{"reasoning_content":' + JSON.stringify(text) + '}' + OPEN_TAIL;
  }

  signature(): string {
    return '';
  }

  toolStart(index: number, id: string, name: string): string {
    return this.head + '{"tool_calls":[{"index":' + JSON.stringify(index) + ',"id":' + JSON.stringify(id)
      + ',"type":"function","function":{"name":' + JSON.stringify(name) + ',"arguments":""}}]}' + OPEN_TAIL;
  }

  toolArgs(index: number, json: string): string {
    return this.head + '{"tool_calls":[{"index":' + JSON.stringify(index) + ',"function":{"arguments":'
      + JSON.stringify(json) + '}}]}' + OPEN_TAIL;
  }

  /** Once per stream: the general form. */
  stop(reason: IrStop): string {
    return 'data: ' + JSON.stringify({
      id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model,
      choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: STOP_TO_FINISH[reason] ?? 'stop' }],
    }) + '\n\n';
  }

  finish(usage: TokenUsage): string {
    const u: Record<string, unknown> = {
      prompt_tokens: usage.prompt ?? 0, completion_tokens: usage.completion ?? 0, total_tokens: usage.total ?? 0,
    };
    // Cache writes have no field of their own in Chat: they stay in prompt_tokens.
    if (usage.cacheRead > 0) u.prompt_tokens_details = { cached_tokens: usage.cacheRead };
    if (usage.reasoning > 0) u.completion_tokens_details = { reasoning_tokens: usage.reasoning };
    const last = {
      id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [], usage: u,
    };
    return 'data: ' + JSON.stringify(last) + '\n\ndata: [DONE]\n\n';
  }

  error(type: string, message: string): string {
    return 'data: ' + JSON.stringify({ error: { type, code: null, message } }) + '\n\n';
  }
}
