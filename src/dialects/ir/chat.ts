import { JsonBodyError } from '../../errors.js';
import { numberText, quote, stringifyNested } from '../decode.js';
import { expectArray, expectObject, expectString, isObject, shapeError, stringOr } from '../shape.js';
import type { JsonObject, JsonValue } from '../types.js';
import { effortOf } from './reasoning.js';
import {
  emptyRequest, FINISH_TO_STOP, isRedactedThinking, noCounterpart, STOP_TO_FINISH, textOf, textToolResult,
  toolImagesRefused, type IrError,
  type IrMessage, type IrPart, type IrRequest, type IrResponse, type RequestCodec, type ResponseCodec,
} from './types.js';

/** OpenAI Chat Completions ⇄ IR. */

/** JSON-encoded tool-call arguments as an object; anything else is refused at `path`. */
export function parseArguments(args: string, path: string): JsonObject {
  let parsed: unknown;
  try {
    parsed = args.length === 0 ? {} : JSON.parse(args);
  } catch {
    throw new JsonBodyError('shape', path, null, `${path}: expected JSON-encoded arguments, got text that is not JSON`);
  }
  if (!isObject(parsed as JsonValue)) {
    throw new JsonBodyError('shape', path, null, `${path}: expected JSON object arguments`);
  }
  return parsed as JsonObject;
}

function partToIr(part: JsonObject, path: string): IrPart {
  if (part.type === 'text') return { type: 'text', text: part.text as string, cache: null };
  if (part.type === 'image_url' && isObject(part.image_url)) {
    const url = part.image_url.url as string;
    const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
    if (m) return { type: 'image', url: null, mediaType: m[1]!, data: m[2]! };
    return { type: 'image', url, mediaType: null, data: null };
  }
  return { type: 'other', value: part, path };
}

function decodeRequest(root: JsonObject): IrRequest {
  const ir = emptyRequest(root.model as string);
  const messages = ir.messages;
  const src = root.messages as JsonObject[];
  for (let i = 0; i < src.length; i++) {
    const m = src[i]!;
    const role = m.role as string;
    if (role === 'system' || role === 'developer') {
      ir.system.push(textOf(m.content));
      continue;
    }
    if (role === 'tool' || role === 'function') {
      const id = (m.tool_call_id ?? m.name ?? '') as string;
      pushToolResult(messages, textToolResult(id, textOf(m.content), false));
      continue;
    }
    if (role === 'assistant') {
      const calls = Array.isArray(m.tool_calls) ? (m.tool_calls as JsonObject[]) : [];
      const reasoning = stringOr(m.reasoning_content, null) || null;
      if (calls.length === 0 && reasoning === null && typeof m.content === 'string') {
        messages.push({ role: 'assistant', content: m.content });
        continue;
      }
      const parts: IrPart[] = [];
      if (reasoning !== null) parts.push({ type: 'thinking', text: reasoning, signature: null });
      if (typeof m.content === 'string' && m.content.length > 0) {
        parts.push({ type: 'text', text: m.content, cache: null });
      }
      else if (Array.isArray(m.content)) {
        const c = m.content;
        for (let k = 0; k < c.length; k++) {
          if (isObject(c[k])) parts.push(partToIr(c[k] as JsonObject, `$.messages[${i}].content[${k}]`));
        }
      }
      for (let k = 0; k < calls.length; k++) {
        const fn = calls[k]!.function as JsonObject;
        const input = parseArguments(fn.arguments as string, `$.messages[${i}].tool_calls[${k}].function.arguments`);
        parts.push({ type: 'tool_call', id: calls[k]!.id as string, name: fn.name as string, input });
      }
      messages.push({ role: 'assistant', content: parts });
      continue;
    }
    if (typeof m.content === 'string') messages.push({ role: 'user', content: m.content });
    else {
      const c = m.content as JsonObject[];
      const parts: IrPart[] = [];
      for (let k = 0; k < c.length; k++) parts.push(partToIr(c[k]!, `$.messages[${i}].content[${k}]`));
      messages.push({ role: 'user', content: parts });
    }
  }
  const maxTokens = root.max_completion_tokens ?? root.max_tokens;
  if (typeof maxTokens === 'number') ir.maxTokens = maxTokens;
  if (root.temperature !== null) ir.temperature = root.temperature;
  if (root.top_p !== null) ir.topP = root.top_p;
  if (typeof root.stop === 'string') ir.stop = [root.stop];
  else if (Array.isArray(root.stop)) ir.stop = root.stop;
  if (root.stream !== null) ir.stream = root.stream;
  if (typeof root.user === 'string') ir.user = root.user;
  if (Array.isArray(root.tools)) {
    ir.tools = root.tools.map(function toolToIr(t) {
      const fn = (isObject(t) && isObject(t.function) ? t.function : {}) as JsonObject;
      const schema = isObject(fn.parameters) ? fn.parameters : null;
      return { name: stringOr(fn.name, ''), description: stringOr(fn.description, null), schema };
    });
  }
  const choice = root.tool_choice;
  if (choice === 'auto') ir.toolChoice = { type: 'auto', name: null };
  else if (choice === 'required') ir.toolChoice = { type: 'any', name: null };
  else if (choice === 'none') ir.toolChoice = { type: 'none', name: null };
  else if (isObject(choice) && isObject(choice.function)) {
    ir.toolChoice = { type: 'tool', name: choice.function.name as string };
  }
  if (typeof root.parallel_tool_calls === 'boolean') ir.parallelToolCalls = root.parallel_tool_calls;
  if (typeof root.reasoning_effort === 'string') ir.reasoning = { effort: root.reasoning_effort, budget: null };
  if (isObject(root.response_format) && root.response_format.type !== 'text') {
    ir.responseFormat = { format: root.response_format, path: '$.response_format' };
  }
  return ir;
}

function isToolResult(p: IrPart): boolean {
  return p.type === 'tool_result';
}

/** A tool result joins the user turn before it when that turn holds only tool results. */
export function pushToolResult(messages: IrMessage[], part: IrPart): void {
  const last = messages[messages.length - 1];
  if (last && last.role === 'user' && Array.isArray(last.content) && last.content.every(isToolResult)) {
    last.content.push(part);
  } else messages.push({ role: 'user', content: [part] });
}

function partToChat(p: IrPart): JsonObject | null {
  switch (p.type) {
    case 'text': return { type: 'text', text: p.text };
    case 'image': return { type: 'image_url', image_url: { url: p.url ?? `data:${p.mediaType!};base64,${p.data!}` } };
    case 'other':
      if (isRedactedThinking(p)) return null;
      throw noCounterpart(p, 'a Chat Completions channel');
    default: return null;
  }
}

function encodeRequest(ir: IrRequest): JsonObject {
  const out: JsonObject = { model: ir.model };
  const messages: JsonObject[] = [];
  const system = ir.system.filter((s) => s.length > 0).join('\n\n');
  if (system) messages.push({ role: 'system', content: system });
  for (let i = 0; i < ir.messages.length; i++) {
    const m = ir.messages[i]!;
    if (typeof m.content === 'string') {
      messages.push({ role: m.role, content: m.content });
      continue;
    }
    if (m.role === 'assistant') {
      // Earlier turns' reasoning is not input on Chat Completions (it has no field for it): left out.
      let text = '';
      const calls: JsonObject[] = [];
      for (let k = 0; k < m.content.length; k++) {
        const p = m.content[k]!;
        if (p.type === 'text') text += p.text;
        else if (p.type === 'other' && !isRedactedThinking(p)) throw noCounterpart(p, 'a Chat Completions channel');
        else if (p.type === 'tool_call') {
          const args = stringifyNested(p.input, `$.messages[${i}].content[${k}].input`);
          calls.push({ id: p.id, type: 'function', function: { name: p.name, arguments: args } });
        }
      }
      const msg: JsonObject = { role: 'assistant', content: calls.length > 0 && text === '' ? null : text };
      if (calls.length > 0) msg.tool_calls = calls;
      messages.push(msg);
      continue;
    }
    const parts: JsonObject[] = [];
    for (const p of m.content) {
      if (p.type === 'tool_result') {
        if (p.images.length > 0) throw toolImagesRefused(p, 'a Chat Completions channel');
        messages.push({ role: 'tool', tool_call_id: p.id, content: p.content });
      } else {
        const part = partToChat(p);
        if (part !== null) parts.push(part);
      }
    }
    if (parts.length > 0) messages.push({ role: 'user', content: parts });
  }
  out.messages = messages;
  if (ir.maxTokens !== null) out.max_tokens = ir.maxTokens;
  if (ir.temperature !== undefined) out.temperature = ir.temperature;
  if (ir.topP !== undefined) out.top_p = ir.topP;
  if (ir.stop !== null) out.stop = ir.stop;
  if (ir.stream !== undefined) out.stream = ir.stream;
  if (ir.user !== null) out.user = ir.user;
  if (ir.tools !== null) {
    out.tools = ir.tools.map(function toolToChat(t) {
      const fn: JsonObject = { name: t.name };
      if (t.description !== null) fn.description = t.description;
      if (t.schema !== null) fn.parameters = t.schema;
      return { type: 'function', function: fn };
    });
  }
  const choice = ir.toolChoice;
  if (choice !== null) {
    if (choice.type === 'auto') out.tool_choice = 'auto';
    else if (choice.type === 'any') out.tool_choice = 'required';
    else if (choice.type === 'none') out.tool_choice = 'none';
    else out.tool_choice = { type: 'function', function: { name: choice.name } };
  }
  if (ir.parallelToolCalls !== null) out.parallel_tool_calls = ir.parallelToolCalls;
  if (ir.reasoning !== null) {
    const effort = effortOf(ir.reasoning);
    if (effort !== null) out.reasoning_effort = effort;
  }
  if (ir.responseFormat !== null) out.response_format = ir.responseFormat.format;
  return out;
}

function decodeResponse(root: JsonObject): IrResponse {
  const choices = expectArray(root.choices, '$.choices');
  if (choices.length === 0) throw shapeError('$.choices', 'at least one choice', choices);
  const choice = expectObject(choices[0], '$.choices[0]');
  const msg = expectObject(choice.message, '$.choices[0].message');
  const content: IrPart[] = [];
  if (typeof msg.reasoning_content === 'string' && msg.reasoning_content.length > 0) {
    content.push({ type: 'thinking', text: msg.reasoning_content, signature: null });
  }
  if (typeof msg.content === 'string' && msg.content.length > 0) {
    content.push({ type: 'text', text: msg.content, cache: null });
  }
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
      if (!isObject(input)) throw shapeError(`${base}.function.arguments`, 'JSON object arguments', args);
      const id = expectString(call, 'id', base);
      content.push({ type: 'tool_call', id, name: expectString(fn, 'name', `${base}.function`), input });
    }
  }
  const finish = typeof choice.finish_reason === 'string' ? choice.finish_reason : 'stop';
  const usage = isObject(root.usage) ? root.usage : {};
  const details = isObject(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
  const cached = numberOr(details.cached_tokens);
  return {
    id: typeof root.id === 'string' ? root.id : '',
    model: typeof root.model === 'string' ? root.model : '',
    created: typeof root.created === 'number' ? root.created : null,
    content,
    stop: FINISH_TO_STOP[finish] ?? 'end_turn',
    stopSequence: null,
    usage: {
      input: numberOr(usage.prompt_tokens) - cached, output: numberOr(usage.completion_tokens), cacheRead: cached,
      cacheWrite: 0,
    },
  };
}

/**
 * The answer as Chat Completions JSON text, written directly rather than built as objects for JSON.stringify (the
 * converted path's largest cost): the same bytes, keys in the same order.
 */
function encodeResponse(ir: IrResponse): string {
  let text = '';
  let reasoning = '';
  let calls = '';
  for (let k = 0; k < ir.content.length; k++) {
    const p = ir.content[k]!;
    if (p.type === 'text') text += p.text;
    else if (p.type === 'thinking') reasoning += p.text;
    else if (p.type === 'tool_call') {
      const args = stringifyNested(p.input, `$.content[${k}].input`);
      if (calls.length > 0) calls += ',';
      calls += '{"id":' + quote(p.id) + ',"type":"function","function":{"name":' + quote(p.name) + ',"arguments":'
        + quote(args) + '}}';
    }
  }
  let message = '{"role":"assistant","content":' + (calls.length > 0 && text === '' ? 'null' : quote(text));
  if (reasoning.length > 0) message += ',"reasoning_content":' + quote(reasoning);
  if (calls.length > 0) message += ',"tool_calls":[' + calls + ']';
  const u = ir.usage;
  const prompt = u.input + u.cacheRead + u.cacheWrite;
  let usage = '{"prompt_tokens":' + numberText(prompt) + ',"completion_tokens":' + numberText(u.output)
    + ',"total_tokens":' + numberText(prompt + u.output);
  if (u.cacheRead > 0) usage += ',"prompt_tokens_details":{"cached_tokens":' + numberText(u.cacheRead) + '}';
  return '{"id":' + quote(ir.id) + ',"object":"chat.completion","created":'
    + numberText(ir.created ?? Math.floor(Date.now() / 1000)) + ',"model":' + quote(ir.model)
    + ',"choices":[{"index":0,"message":' + message + '},"finish_reason":' + quote(STOP_TO_FINISH[ir.stop] ?? 'stop')
    + '}],"usage":' + usage + '}}';
}

export function numberOr(v: JsonValue | undefined): number {
  return typeof v === 'number' ? v : 0;
}

function decodeError(root: JsonObject): IrError {
  const err = expectObject(root.error, '$.error');
  return { type: stringOr(err.type, 'api_error'), message: expectString(err, 'message', '$.error') };
}

function encodeError(err: IrError): JsonObject {
  return { error: { message: err.message, type: err.type, param: null, code: null } };
}

export const CHAT_REQUEST: RequestCodec = { decode: decodeRequest, encode: encodeRequest };
export const CHAT_RESPONSE: ResponseCodec = {
  isError: function chatIsError(root) {
    return isObject(root.error);
  },
  decodeError, encodeError, decode: decodeResponse, encode: encodeResponse,
};
