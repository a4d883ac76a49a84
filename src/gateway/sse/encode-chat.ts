import { STOP_TO_FINISH, type IrStop } from '../../dialects/ir/types.js';
import type { TokenUsage } from '../response/usage.js';
import type { StreamEncoder } from './stream-ir.js';

/** IR stream events → OpenAI chat.completion.chunk events. */
export class ChatStreamEncoder implements StreamEncoder {
  private id = 'chatcmpl-tidegate';
  private model: string;
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(model: string) {
    this.model = model;
  }

  private chunk(delta: Record<string, unknown>, finish: string | null): string {
    return 'data: ' + JSON.stringify({
      id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    }) + '\n\n';
  }

  start(id: string | null, model: string | null): string {
    if (id !== null) this.id = id;
    if (model !== null) this.model = model;
    return this.chunk({ role: 'assistant', content: '' }, null);
  }

  text(text: string): string {
    return this.chunk({ content: text }, null);
  }

  /** DeepSeek's and others' `reasoning_content` delta: the de facto Chat field for reasoning. */
  thinking(text: string): string {
    return this.chunk({ reasoning_content: text }, null);
  }

  signature(): string {
    return '';
  }

  toolStart(index: number, id: string, name: string): string {
    return this.chunk({ tool_calls: [{ index, id, type: 'function', function: { name, arguments: '' } }] }, null);
  }

  toolArgs(index: number, json: string): string {
    return this.chunk({ tool_calls: [{ index, function: { arguments: json } }] }, null);
  }

  stop(reason: IrStop): string {
    return this.chunk({}, STOP_TO_FINISH[reason] ?? 'stop');
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
