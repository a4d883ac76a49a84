import { JsonBodyError } from '../../errors.js';
import { numberText, quote, stringifyNested } from '../decode.js';
import { isObject, stringOr } from '../shape.js';
import type { JsonObject, JsonValue } from '../types.js';
import { parseArguments, pushToolResult } from './chat.js';
import {
  emptyRequest, imageFromUrl, textOf, type IrImage, type IrMessage, type IrPart, type IrRequest, type IrResponse,
} from './types.js';

/**
 * OpenAI Responses → IR (requests) and IR → Responses (answers), for channels that do not speak it natively
 * (those marked `responses: true` get the client's body unchanged). What changes the answer and has no
 * counterpart elsewhere is refused with a 400 naming the field; what only steers OpenAI's own storage or caching
 * (store, include, prompt_cache_key, metadata, service_tier, truncation) has no effect on the answer and is left out.
 */

function unsupported(path: string, why: string): JsonBodyError {
  return new JsonBodyError('unsupported', path, null, `${path}: ${why}`);
}

const NATIVE = 'a channel that speaks the Responses API natively (`responses: true`)';

/** Fields that need OpenAI's server-side state or features: refused on channels that do not speak Responses. */
const NATIVE_ONLY: readonly (readonly [string, string])[] = [
  ['previous_response_id', `needs ${NATIVE}; send the whole conversation in \`input\` instead`],
  ['conversation', `needs ${NATIVE}`],
  ['prompt', `stored prompt templates need ${NATIVE}`],
];

function lastAssistantParts(messages: IrMessage[]): IrPart[] {
  const last = messages[messages.length - 1];
  if (last && last.role === 'assistant' && Array.isArray(last.content)) return last.content;
  const parts: IrPart[] = [];
  messages.push({ role: 'assistant', content: parts });
  return parts;
}

function contentParts(content: JsonValue | undefined, path: string): string | IrPart[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) {
    throw new JsonBodyError('shape', path, null, `${path}: expected a string or an array of content parts`);
  }
  const parts: IrPart[] = [];
  for (let k = 0; k < content.length; k++) {
    const p = content[k];
    const at = `${path}[${k}]`;
    if (!isObject(p)) throw new JsonBodyError('shape', at, null, `${at}: expected a content part object`);
    if ((p.type === 'input_text' || p.type === 'output_text' || p.type === 'text') && typeof p.text === 'string') {
      parts.push({ type: 'text', text: p.text, cache: null });
    } else if (p.type === 'refusal' && typeof p.refusal === 'string') {
      parts.push({ type: 'text', text: p.refusal, cache: null });
    } else if (p.type === 'input_image' && typeof p.image_url === 'string') {
      const m = /^data:([^;,]+);base64,(.*)$/s.exec(p.image_url);
      if (m) parts.push({ type: 'image', url: null, mediaType: m[1]!, data: m[2]! });
      else parts.push({ type: 'image', url: p.image_url, mediaType: null, data: null });
    } else {
      throw unsupported(at, `content part "${String(p.type)}" has no counterpart on this channel `
        + '(text and images by URL or data URL convert)');
    }
  }
  return parts;
}

/** A function_call_output's output: a string, or a list of input_text and input_image parts (others refused). */
function outputToIr(id: string, output: JsonValue | undefined, path: string): IrPart {
  if (!Array.isArray(output)) {
    return { type: 'tool_result', id, content: textOf(output), isError: false, images: [], imagesAt: null };
  }
  let text = '';
  const images: IrImage[] = [];
  let imagesAt: string | null = null;
  for (let j = 0; j < output.length; j++) {
    const p = output[j];
    const at = `${path}[${j}]`;
    if (isObject(p) && p.type === 'input_text' && typeof p.text === 'string') text += text ? `\n\n${p.text}` : p.text;
    else if (isObject(p) && p.type === 'input_image' && typeof p.image_url === 'string') {
      images.push(imageFromUrl(p.image_url));
      imagesAt ??= at;
    } else {
      const type = isObject(p) ? String(p.type) : typeof p;
      throw unsupported(at, `a function_call_output's "${type}" part has no counterpart on this channel `
        + '(input_text and input_image by URL or data URL convert)');
    }
  }
  return { type: 'tool_result', id, content: text, isError: false, images, imagesAt };
}

function summaryAsText(s: JsonValue): JsonValue {
  return isObject(s) ? { type: 'text', text: s.text ?? '' } : s;
}

function decodeInput(ir: IrRequest, input: JsonValue | undefined): void {
  const messages = ir.messages;
  if (typeof input === 'string') {
    messages.push({ role: 'user', content: input });
    return;
  }
  if (!Array.isArray(input)) {
    throw new JsonBodyError('shape', '$.input', null, '$.input: expected a string or an array of items');
  }
  for (let i = 0; i < input.length; i++) {
    const item = input[i];
    const at = `$.input[${i}]`;
    if (!isObject(item)) throw new JsonBodyError('shape', at, null, `${at}: expected an item object`);
    const type = item.type ?? 'message';
    if (type === 'message') {
      const role = item.role;
      if (role === 'system' || role === 'developer') ir.system.push(textOf(item.content));
      else if (role === 'user') messages.push({ role: 'user', content: contentParts(item.content, `${at}.content`) });
      else if (role === 'assistant') {
        const content = contentParts(item.content, `${at}.content`);
        const parts = lastAssistantParts(messages);
        if (typeof content === 'string') parts.push({ type: 'text', text: content, cache: null });
        else parts.push(...content);
      } else {
        const why = `${at}.role: expected user, assistant, system or developer`;
        throw new JsonBodyError('shape', `${at}.role`, null, why);
      }
    } else if (type === 'function_call') {
      if (typeof item.call_id !== 'string' || typeof item.name !== 'string' || typeof item.arguments !== 'string') {
        throw new JsonBodyError('shape', at, null, `${at}: a function_call needs call_id, name and arguments strings`);
      }
      const input = parseArguments(item.arguments, `${at}.arguments`);
      lastAssistantParts(messages).push({ type: 'tool_call', id: item.call_id, name: item.name, input });
    } else if (type === 'function_call_output') {
      if (typeof item.call_id !== 'string') {
        throw new JsonBodyError('shape', `${at}.call_id`, null, `${at}.call_id: expected a string`);
      }
      pushToolResult(messages, outputToIr(item.call_id, item.output, `${at}.output`));
    } else if (type === 'reasoning') {
      let text = '';
      if (Array.isArray(item.summary)) text = textOf(item.summary.map(summaryAsText));
      // A signature of ours travels in encrypted_content (see encodeResponse), so thinking survives a round trip.
      const signature = stringOr(item.encrypted_content, null) || null;
      lastAssistantParts(messages).push({ type: 'thinking', text, signature });
    } else {
      throw unsupported(`${at}.type`, `input item "${String(type)}" has no counterpart on this channel `
        + '(message, function_call, function_call_output and reasoning convert)');
    }
  }
}

function decodeRequest(root: JsonObject): IrRequest {
  for (const [field, why] of NATIVE_ONLY) {
    if (root[field] !== undefined && root[field] !== null) throw unsupported(`$.${field}`, why);
  }
  if (root.background === true) throw unsupported('$.background', `background responses need ${NATIVE}`);
  const ir = emptyRequest(root.model as string);
  if (typeof root.instructions === 'string' && root.instructions.length > 0) ir.system.push(root.instructions);
  decodeInput(ir, root.input);
  if (typeof root.max_output_tokens === 'number') ir.maxTokens = root.max_output_tokens;
  if (root.temperature !== null) ir.temperature = root.temperature;
  if (root.top_p !== null) ir.topP = root.top_p;
  if (root.stream !== null) ir.stream = root.stream;
  if (typeof root.user === 'string') ir.user = root.user;
  if (Array.isArray(root.tools)) {
    const tools = root.tools;
    ir.tools = [];
    for (let i = 0; i < tools.length; i++) {
      const t = tools[i];
      if (!isObject(t) || t.type !== 'function' || typeof t.name !== 'string') {
        const type = isObject(t) ? String(t.type) : typeof t;
        const why = `tool type "${type}" is built into OpenAI's Responses API: only function tools convert`;
        throw unsupported(`$.tools[${i}].type`, why);
      }
      const schema = isObject(t.parameters) ? t.parameters : null;
      ir.tools.push({ name: t.name, description: typeof t.description === 'string' ? t.description : null, schema });
    }
  }
  const choice = root.tool_choice;
  if (choice === 'auto') ir.toolChoice = { type: 'auto', name: null };
  else if (choice === 'required') ir.toolChoice = { type: 'any', name: null };
  else if (choice === 'none') ir.toolChoice = { type: 'none', name: null };
  else if (isObject(choice) && choice.type === 'function' && typeof choice.name === 'string') {
    ir.toolChoice = { type: 'tool', name: choice.name };
  } else if (choice !== undefined && choice !== null) {
    throw unsupported('$.tool_choice', 'only auto, required, none and a function tool convert');
  }
  if (typeof root.parallel_tool_calls === 'boolean') ir.parallelToolCalls = root.parallel_tool_calls;
  const reasoning = root.reasoning;
  if (isObject(reasoning) && typeof reasoning.effort === 'string') {
    ir.reasoning = { effort: reasoning.effort, budget: null };
  }
  const format = isObject(root.text) && isObject(root.text.format) ? root.text.format : null;
  if (format !== null && format.type === 'json_schema') {
    const schema: JsonObject = { name: stringOr(format.name, 'response'), schema: format.schema ?? {} };
    if (typeof format.strict === 'boolean') schema.strict = format.strict;
    ir.responseFormat = { format: { type: 'json_schema', json_schema: schema }, path: '$.text.format' };
  } else if (format !== null && format.type === 'json_object') {
    ir.responseFormat = { format: { type: 'json_object' }, path: '$.text.format' };
  }
  return ir;
}

/** Ids of output items made from an upstream id and the item's place. */
export function itemId(prefix: string, base: string, n: number): string {
  return `${prefix}_${base.replace(/^[a-z]+[-_]/i, '')}_${n}`;
}

/** The answer as Responses JSON text, written directly (see the Chat encoder): the same bytes as its object form. */
function encodeResponse(ir: IrResponse): string {
  let output = '';
  let text = '';
  let n = 0;
  for (let k = 0; k < ir.content.length; k++) {
    const p = ir.content[k]!;
    if (p.type === 'text') text += p.text;
    else if (p.type === 'thinking') {
      let item = '{"type":"reasoning","id":' + quote(itemId('rs', ir.id, n++))
        + ',"summary":[{"type":"summary_text","text":' + quote(p.text) + '}]';
      if (p.signature !== null) item += ',"encrypted_content":' + quote(p.signature);
      output += (output.length > 0 ? ',' : '') + item + '}';
    }
  }
  if (text.length > 0) {
    output += (output.length > 0 ? ',' : '') + '{"type":"message","id":' + quote(itemId('msg', ir.id, n++))
      + ',"status":"completed","role":"assistant","content":[{"type":"output_text","text":' + quote(text)
      + ',"annotations":[]}]}';
  }
  for (let k = 0; k < ir.content.length; k++) {
    const p = ir.content[k]!;
    if (p.type !== 'tool_call') continue;
    output += (output.length > 0 ? ',' : '') + '{"type":"function_call","id":' + quote(itemId('fc', ir.id, n++))
      + ',"call_id":' + quote(p.id) + ',"name":' + quote(p.name) + ',"arguments":'
      + quote(stringifyNested(p.input, `$.content[${k}].input`)) + ',"status":"completed"}';
  }
  const u = ir.usage;
  const usage = usageText(u.input + u.cacheRead + u.cacheWrite, u.output, u.cacheRead, 0);
  const status = ir.stop === 'max_tokens' ? 'incomplete' : 'completed';
  return responseText(ir.id, ir.model, ir.created ?? Math.floor(Date.now() / 1000), status, output, usage);
}

export function usageObject(input: number, output: number, cached: number, reasoning = 0): JsonObject {
  return {
    input_tokens: input, input_tokens_details: { cached_tokens: cached }, output_tokens: output,
    output_tokens_details: { reasoning_tokens: reasoning }, total_tokens: input + output,
  };
}

/** usageObject's JSON text. */
export function usageText(input: number, output: number, cached: number, reasoning: number): string {
  return '{"input_tokens":' + numberText(input) + ',"input_tokens_details":{"cached_tokens":' + numberText(cached)
    + '},"output_tokens":' + numberText(output) + ',"output_tokens_details":{"reasoning_tokens":'
    + numberText(reasoning) + '},"total_tokens":' + numberText(input + output) + '}';
}

/** The id of a Responses answer made from an upstream's id. */
export function responseId(id: string): string {
  return id.startsWith('resp_') ? id : `resp_${id.replace(/^[a-z]+[-_]/i, '')}`;
}

/** A Responses `response` object; `usage` null while in progress. */
export function responseObject(
  id: string, model: string, created: number, status: string, output: JsonValue[], usage: JsonObject | null,
): JsonObject {
  return {
    id: responseId(id), object: 'response',
    created_at: created, status,
    error: null, incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    model, output, parallel_tool_calls: true, tool_choice: 'auto', tools: [], usage,
  };
}

/** responseObject's JSON text, from its output items' text (comma-separated) and its usage's text (or 'null'). */
export function responseText(
  id: string, model: string, created: number, status: string, output: string, usage: string,
): string {
  return '{"id":' + quote(responseId(id)) + ',"object":"response","created_at":' + numberText(created)
    + ',"status":' + quote(status) + ',"error":null,"incomplete_details":'
    + (status === 'incomplete' ? '{"reason":"max_output_tokens"}' : 'null') + ',"model":' + quote(model)
    + ',"output":[' + output + '],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"usage":' + usage + '}';
}

export const RESPONSES_REQUEST = { decode: decodeRequest };
export const RESPONSES_RESPONSE: { encode(ir: IrResponse): string } = { encode: encodeResponse };
