import { quote } from '../../dialects/decode.js';
import { itemId, responseId, responseObject, responseText, usageObject } from '../../dialects/ir/responses.js';
import type { IrStop } from '../../dialects/ir/types.js';
import type { JsonObject, JsonValue } from '../../dialects/types.js';
import type { TokenUsage } from '../response/usage.js';
import type { StreamEncoder } from './stream-ir.js';

const NONE = 0;
const MESSAGE = 1;
const REASONING = 2;
const CALL = 3;

/**
 * IR stream events → the Responses API's event sequence: response.created and .in_progress, then per output item
 * output_item.added, its deltas (output_text / reasoning_summary_text / function_call_arguments), its .done events
 * and output_item.done, and response.completed (or .incomplete at max tokens) with the whole response; an upstream
 * error is `error` then response.failed. Items are closed in order: a new one closes the open one. The bytes are
 * JSON.stringify's of each event's body with `type` and `sequence_number` last.
 */
export class ResponsesStreamEncoder implements StreamEncoder {
  private id = 'resp_tidegate';
  private model: string;
  private readonly created = Math.floor(Date.now() / 1000);
  private seq = 0;
  /** Finished output items, for response.completed. */
  private readonly output: JsonValue[] = [];
  private openKind = NONE;
  private itemId = '';
  /** The delta events' text up to their delta: `{"item_id":…,"output_index":N,…,"delta":` (built once per item). */
  private deltaHead = '';
  /** The open item's text so far (message text, reasoning summary, or call arguments). */
  private buffer = '';
  private signatureText = '';
  private callId = '';
  private callName = '';
  private callIndex = -1;
  private stopReason: IrStop | null = null;

  constructor(model: string) {
    this.model = model;
  }

  /** The general form (once per item or stream); the delta events, one per upstream event, are built as text. */
  private event(type: string, body: Record<string, unknown>): string {
    body.type = type;
    body.sequence_number = this.seq++;
    return 'event: ' + type + '\ndata: ' + JSON.stringify(body) + '\n\n';
  }

  private response(status: string, usage: JsonObject | null): JsonObject {
    return responseObject(this.id, this.model, this.created, status, this.output, usage);
  }

  /** An event whose body is written as text: `body` is its JSON up to (without) the closing brace. */
  private eventText(type: string, body: string): string {
    return 'event: ' + type + '\ndata: ' + body + ',"type":"' + type + '","sequence_number":' + this.seq++ + '}\n\n';
  }

  /** The first events (on the time-to-first-byte path): written as text, the in-progress response written once. */
  start(id: string | null, model: string | null): string {
    if (id !== null) this.id = responseId(id);
    if (model !== null) this.model = model;
    const response = '{"response":' + responseText(this.id, this.model, this.created, 'in_progress', '', 'null');
    return this.eventText('response.created', response) + this.eventText('response.in_progress', response);
  }

  private get outputIndex(): number {
    return this.output.length;
  }

  /**
   * Opens an output item: output_item.added (and its part's .added), written as text. `item` is the added item's
   * JSON up to (without) its `id`, which comes last.
   */
  private open(kind: number, prefix: string, item: string): string {
    let out = this.close();
    this.openKind = kind;
    this.itemId = itemId(prefix, this.id, this.outputIndex);
    this.buffer = '';
    const at = this.outputIndex;
    const head = '{"item_id":' + quote(this.itemId) + ',"output_index":' + at;
    if (kind === MESSAGE) this.deltaHead = head + ',"content_index":0,"delta":';
    else if (kind === REASONING) this.deltaHead = head + ',"summary_index":0,"delta":';
    else this.deltaHead = head + ',"delta":';
    const added = '{"output_index":' + at + ',"item":' + item + ',"id":' + quote(this.itemId) + '}';
    out += this.eventText('response.output_item.added', added);
    if (kind === MESSAGE) {
      const part = head + ',"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}';
      out += this.eventText('response.content_part.added', part);
    } else if (kind === REASONING) {
      const part = head + ',"summary_index":0,"part":{"type":"summary_text","text":""}';
      out += this.eventText('response.reasoning_summary_part.added', part);
    }
    return out;
  }

  private close(): string {
    const kind = this.openKind;
    if (kind === NONE) return '';
    const at = this.outputIndex;
    const id = this.itemId;
    const text = this.buffer;
    let out = '';
    let item: JsonObject;
    if (kind === MESSAGE) {
      const part = { type: 'output_text', text, annotations: [] };
      const done = { item_id: id, output_index: at, content_index: 0, text, logprobs: [] };
      out += this.event('response.output_text.done', done);
      out += this.event('response.content_part.done', { item_id: id, output_index: at, content_index: 0, part });
      item = { type: 'message', id, status: 'completed', role: 'assistant', content: [part] };
    } else if (kind === REASONING) {
      const part = { type: 'summary_text', text };
      out += this.event('response.reasoning_summary_text.done', {
        item_id: id, output_index: at, summary_index: 0, text,
      });
      out += this.event('response.reasoning_summary_part.done', {
        item_id: id, output_index: at, summary_index: 0, part,
      });
      item = { type: 'reasoning', id, summary: [part] };
      // Anthropic's signature rides in encrypted_content, so the client sends it back with the next turn.
      if (this.signatureText.length > 0) item.encrypted_content = this.signatureText;
      this.signatureText = '';
    } else {
      out += this.event('response.function_call_arguments.done', { item_id: id, output_index: at, arguments: text });
      item = {
        type: 'function_call', id, call_id: this.callId, name: this.callName, arguments: text, status: 'completed',
      };
      this.callIndex = -1;
    }
    out += this.event('response.output_item.done', { output_index: at, item });
    this.output.push(item);
    this.openKind = NONE;
    this.buffer = '';
    return out;
  }

  text(text: string): string {
    let out = '';
    if (this.openKind !== MESSAGE) {
      out = this.open(MESSAGE, 'msg', '{"type":"message","status":"in_progress","role":"assistant","content":[]');
    }
    this.buffer += text;
    return out + 'event: response.output_text.delta\ndata: ' + this.deltaHead + JSON.stringify(text)
      + ',"logprobs":[],"type":"response.output_text.delta","sequence_number":' + this.seq++ + '}\n\n';
  }

  thinking(text: string): string {
    let out = '';
    if (this.openKind !== REASONING) out = this.open(REASONING, 'rs', '{"type":"reasoning","summary":[]');
    this.buffer += text;
    return out + 'event: response.reasoning_summary_text.delta\ndata: ' + this.deltaHead + JSON.stringify(text)
      + ',"type":"response.reasoning_summary_text.delta","sequence_number":' + this.seq++ + '}\n\n';
  }

  signature(signature: string): string {
    if (this.openKind === REASONING) this.signatureText += signature;
    return '';
  }

  toolStart(index: number, id: string, name: string): string {
    const item = '{"type":"function_call","call_id":' + quote(id) + ',"name":' + quote(name)
      + ',"arguments":"","status":"in_progress"';
    const out = this.open(CALL, 'fc', item);
    this.callId = id;
    this.callName = name;
    this.callIndex = index;
    return out;
  }

  toolArgs(index: number, json: string): string {
    // Calls stream one after the other; arguments for a call already closed have nowhere to go.
    if (this.openKind !== CALL || index !== this.callIndex) return '';
    this.buffer += json;
    return 'event: response.function_call_arguments.delta\ndata: ' + this.deltaHead + JSON.stringify(json)
      + ',"type":"response.function_call_arguments.delta","sequence_number":' + this.seq++ + '}\n\n';
  }

  stop(reason: IrStop): string {
    this.stopReason = reason;
    return '';
  }

  finish(usage: TokenUsage): string {
    const out = this.close();
    const usageBody = usageObject(usage.prompt ?? 0, usage.completion ?? 0, usage.cacheRead, usage.reasoning);
    if (this.stopReason === 'max_tokens') {
      return out + this.event('response.incomplete', { response: this.response('incomplete', usageBody) });
    }
    return out + this.event('response.completed', { response: this.response('completed', usageBody) });
  }

  error(type: string, message: string): string {
    const out = this.event('error', { code: type, message, param: null });
    const response = this.response('failed', null);
    response.error = { code: type, message };
    return out + this.event('response.failed', { response });
  }
}
