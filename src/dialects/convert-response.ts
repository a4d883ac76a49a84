import { JsonBodyError } from '../errors.js';
import { decodeJsonBody, encodeJsonBody, stringifyNested } from './decode.js';
import { expectArray, expectObject, expectString, isObject, shapeError } from './shape.js';
import type { ChatDialect, JsonObject, JsonValue } from './types.js';

const FINISH_TO_STOP: Record<string, string> = {
  stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', function_call: 'tool_use', content_filter: 'refusal',
};
const STOP_TO_FINISH: Record<string, string> = {
  end_turn: 'stop', stop_sequence: 'stop', max_tokens: 'length', tool_use: 'tool_calls', refusal: 'content_filter',
  pause_turn: 'stop',
};

/**
 * Validates a NON-streamed response body in `from` and returns it rewritten for `to`. Error bodies
 * (`{ error: … }` / `{ type: "error", … }`) are converted too, so a client always sees its own dialect.
 */
export function convertResponseBody(from: ChatDialect, to: ChatDialect, body: Uint8Array): Buffer {
  const root = expectObject(decodeJsonBody(body), '$');
  if (from !== 'openai-chat' && from !== 'anthropic-messages') {
    throw new JsonBodyError('unsupported', '$', null, `cannot convert responses from "${String(from)}"`);
  }
  if (to !== 'openai-chat' && to !== 'anthropic-messages') {
    throw new JsonBodyError('unsupported', '$', null, `cannot convert responses to "${String(to)}"`);
  }
  const isError = from === 'openai-chat' ? isObject(root.error) : root.type === 'error';
  if (isError) {
    const err = expectObject(root.error, '$.error');
    expectString(err, 'message', '$.error');
    if (from === to) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    return encodeJsonBody(from === 'openai-chat' ? openAIErrorToAnthropic(err) : anthropicErrorToOpenAI(err));
  }
  if (from === 'openai-chat') {
    const converted = openAIResponseToAnthropic(root);
    return from === to ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : encodeJsonBody(converted);
  }
  const converted = anthropicResponseToOpenAI(root);
  return from === to ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : encodeJsonBody(converted);
}

function openAIErrorToAnthropic(err: JsonObject): JsonObject {
  return {
    type: 'error',
    error: { type: typeof err.type === 'string' ? err.type : 'api_error', message: err.message as string },
  };
}

function anthropicErrorToOpenAI(err: JsonObject): JsonObject {
  return {
    error: {
      message: err.message as string, type: typeof err.type === 'string' ? err.type : 'api_error',
      param: null, code: null,
    },
  };
}

/** OpenAI chat.completion → Anthropic message (first choice; Anthropic has no `n`). */
export function openAIResponseToAnthropic(root: JsonObject): JsonObject {
  const choices = expectArray(root.choices, '$.choices');
  if (choices.length === 0) throw shapeError('$.choices', 'at least one choice', choices);
  const choice = expectObject(choices[0], '$.choices[0]');
  const msg = expectObject(choice.message, '$.choices[0].message');
  const content: JsonValue[] = [];
  if (typeof msg.content === 'string' && msg.content.length > 0) content.push({ type: 'text', text: msg.content });
  else if (msg.content !== null && msg.content !== undefined && typeof msg.content !== 'string') {
    throw shapeError('$.choices[0].message.content', 'a string or null', msg.content);
  }
  if (msg.tool_calls !== undefined && msg.tool_calls !== null) {
    const calls = expectArray(msg.tool_calls, '$.choices[0].message.tool_calls');
    for (let k = 0; k < calls.length; k++) {
      const base = `$.choices[0].message.tool_calls[${k}]`;
      const call = expectObject(calls[k], base);
      const fn = expectObject(call.function, `${base}.function`);
      const args = expectString(fn, 'arguments', `${base}.function`);
      let input: JsonValue;
      try {
        input = args.length === 0 ? {} : (JSON.parse(args) as JsonValue);
      } catch {
        throw shapeError(`${base}.function.arguments`, 'JSON-encoded arguments', args);
      }
      content.push({
        type: 'tool_use', id: expectString(call, 'id', base), name: expectString(fn, 'name', `${base}.function`), input,
      });
    }
  }
  const finish = typeof choice.finish_reason === 'string' ? choice.finish_reason : 'stop';
  const usage = isObject(root.usage) ? root.usage : {};
  return {
    id: typeof root.id === 'string' ? root.id : '',
    type: 'message',
    role: 'assistant',
    model: typeof root.model === 'string' ? root.model : '',
    content,
    stop_reason: FINISH_TO_STOP[finish] ?? 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: numberOr(usage.prompt_tokens), output_tokens: numberOr(usage.completion_tokens) },
  };
}

/** Anthropic message → OpenAI chat.completion. */
export function anthropicResponseToOpenAI(root: JsonObject): JsonObject {
  if (root.type !== 'message') throw shapeError('$.type', '"message"', root.type);
  const blocks = expectArray(root.content, '$.content');
  let text = '';
  const calls: JsonObject[] = [];
  for (let k = 0; k < blocks.length; k++) {
    const base = `$.content[${k}]`;
    const b = expectObject(blocks[k], base);
    const type = expectString(b, 'type', base);
    if (type === 'text') text += expectString(b, 'text', base);
    else if (type === 'tool_use') {
      calls.push({
        id: expectString(b, 'id', base), type: 'function',
        function: { name: expectString(b, 'name', base), arguments: stringifyNested(b.input ?? {}, `${base}.input`) },
      });
    }
  }
  const message: JsonObject = { role: 'assistant', content: calls.length > 0 && text === '' ? null : text };
  if (calls.length > 0) message.tool_calls = calls;
  const stop = typeof root.stop_reason === 'string' ? root.stop_reason : 'end_turn';
  const usage = isObject(root.usage) ? root.usage : {};
  const input = numberOr(usage.input_tokens);
  const output = numberOr(usage.output_tokens);
  return {
    id: typeof root.id === 'string' ? root.id : '',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: typeof root.model === 'string' ? root.model : '',
    choices: [{ index: 0, message, finish_reason: STOP_TO_FINISH[stop] ?? 'stop' }],
    usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
  };
}

function numberOr(v: JsonValue | undefined): number {
  return typeof v === 'number' ? v : 0;
}
