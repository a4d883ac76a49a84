import { JsonBodyError } from '../../errors.js';
import { jsonText, numberText, quote } from '../decode.js';
import { expectArray, expectObject, expectString, isObject, shapeError, stringOr } from '../shape.js';
import type { JsonObject, JsonValue } from '../types.js';
import { numberOr } from './chat.js';
import { budgetOf } from './reasoning.js';
import {
  emptyRequest, noCounterpart, textOf, type IrError, type IrImage, type IrMessage, type IrPart, type IrRequest,
  type IrResponse, type IrToolResult,
  type IrStop, type RequestCodec, type ResponseCodec,
} from './types.js';

/** Anthropic Messages ⇄ IR. */

/** Anthropic requires max_tokens; OpenAI bodies often omit it. */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

function blockToIr(b: JsonObject, path: string): IrPart {
  switch (b.type) {
    case 'text':
      return { type: 'text', text: b.text as string, cache: isObject(b.cache_control) ? b.cache_control : null };
    case 'image':
      return imageToIr(b) ?? { type: 'other', value: b, path };
    case 'tool_use':
      return { type: 'tool_call', id: b.id as string, name: b.name as string, input: b.input as JsonObject };
    case 'tool_result':
      return resultToIr(b, path);
    case 'thinking':
      return { type: 'thinking', text: stringOr(b.thinking, ''), signature: stringOr(b.signature, null) };
    default: return { type: 'other', value: b, path };
  }
}

/** An image block by base64 or URL; null for another source (a file id). */
function imageToIr(b: JsonObject): IrImage | null {
  const s = isObject(b.source) ? b.source : {};
  if (s.type === 'base64') {
    return { type: 'image', url: null, mediaType: s.media_type as string, data: s.data as string };
  }
  if (s.type === 'url') return { type: 'image', url: s.url as string, mediaType: null, data: null };
  return null;
}

/**
 * A tool result: its text blocks joined, its image blocks kept (a target that cannot carry them refuses them by
 * path); any other block (a document, a search result) is refused, naming it, never cut down to the text.
 */
function resultToIr(b: JsonObject, path: string): IrPart {
  const id = b.tool_use_id as string;
  const isError = b.is_error === true;
  const content = b.content;
  if (!Array.isArray(content)) {
    return { type: 'tool_result', id, content: textOf(content), isError, images: [], imagesAt: null };
  }
  const images: IrImage[] = [];
  let imagesAt: string | null = null;
  for (let j = 0; j < content.length; j++) {
    const block = content[j];
    if (!isObject(block) || block.type === 'text') continue;
    const at = `${path}.content[${j}]`;
    const image = block.type === 'image' ? imageToIr(block) : null;
    if (image === null) {
      throw new JsonBodyError('unsupported', at, null, `${at}: a tool result's "${String(block.type)}" block has `
        + 'no counterpart on this channel (text and images convert)');
    }
    images.push(image);
    imagesAt ??= at;
  }
  return { type: 'tool_result', id, content: textOf(content), isError, images, imagesAt };
}

function decodeRequest(root: JsonObject): IrRequest {
  const ir = emptyRequest(root.model as string);
  if (typeof root.system === 'string') ir.system.push(root.system);
  else if (Array.isArray(root.system)) {
    for (const b of root.system) if (isObject(b) && typeof b.text === 'string') ir.system.push(b.text);
  }
  const src = root.messages as JsonObject[];
  for (let i = 0; i < src.length; i++) {
    const m = src[i]!;
    const role = m.role as 'user' | 'assistant';
    if (typeof m.content === 'string') {
      ir.messages.push({ role, content: m.content });
      continue;
    }
    const blocks = m.content as JsonObject[];
    const parts: IrPart[] = [];
    for (let k = 0; k < blocks.length; k++) parts.push(blockToIr(blocks[k]!, `$.messages[${i}].content[${k}]`));
    ir.messages.push({ role, content: parts });
  }
  ir.maxTokens = root.max_tokens as number;
  ir.temperature = root.temperature;
  ir.topP = root.top_p;
  if (Array.isArray(root.stop_sequences)) ir.stop = root.stop_sequences;
  ir.stream = root.stream;
  if (isObject(root.metadata) && typeof root.metadata.user_id === 'string') ir.user = root.metadata.user_id;
  if (Array.isArray(root.tools)) {
    ir.tools = root.tools.map(function toolToIr(t) {
      const tool = (isObject(t) ? t : {}) as JsonObject;
      const schema = isObject(tool.input_schema) ? tool.input_schema : null;
      return { name: stringOr(tool.name, ''), description: stringOr(tool.description, null), schema };
    });
  }
  const choice = root.tool_choice;
  if (isObject(choice)) {
    const type = choice.type;
    if (type === 'auto' || type === 'any' || type === 'none') ir.toolChoice = { type, name: null };
    else if (choice.type === 'tool') ir.toolChoice = { type: 'tool', name: choice.name as string };
    if (choice.disable_parallel_tool_use === true) ir.parallelToolCalls = false;
  }
  const thinking = root.thinking;
  if (isObject(thinking) && thinking.type === 'enabled' && typeof thinking.budget_tokens === 'number') {
    ir.reasoning = { effort: null, budget: thinking.budget_tokens };
  }
  return ir;
}

function partToBlock(p: IrPart): JsonObject | null {
  switch (p.type) {
    case 'text':
      return p.cache === null ? { type: 'text', text: p.text } : { type: 'text', text: p.text, cache_control: p.cache };
    case 'image':
      if (p.url !== null) return { type: 'image', source: { type: 'url', url: p.url } };
      return { type: 'image', source: { type: 'base64', media_type: p.mediaType!, data: p.data! } };
    case 'tool_call': return { type: 'tool_use', id: p.id, name: p.name, input: p.input };
    case 'tool_result': {
      const b: JsonObject = { type: 'tool_result', tool_use_id: p.id, content: resultContent(p) };
      if (p.isError) b.is_error = true;
      return b;
    }
    // Anthropic checks thinking signatures: reasoning from another dialect has none and cannot be sent back.
    case 'thinking':
      return p.signature === null ? null : { type: 'thinking', thinking: p.text, signature: p.signature };
    case 'other': throw noCounterpart(p, 'an Anthropic channel');
  }
}

/** A tool result's content: its text, or text and image blocks when it has images. */
function resultContent(p: IrToolResult): JsonValue {
  if (p.images.length === 0) return p.content;
  const blocks: JsonValue[] = [];
  if (p.content.length > 0) blocks.push({ type: 'text', text: p.content });
  for (const image of p.images) blocks.push(partToBlock(image)!);
  return blocks;
}

function encodeMessage(m: IrMessage): JsonObject {
  if (typeof m.content === 'string') return { role: m.role, content: m.content };
  const blocks: JsonValue[] = [];
  for (const p of m.content) {
    const b = partToBlock(p);
    if (b !== null) blocks.push(b);
  }
  return { role: m.role, content: blocks };
}

function encodeRequest(ir: IrRequest): JsonObject {
  if (ir.responseFormat !== null) {
    const path = ir.responseFormat.path;
    throw new JsonBodyError('unsupported', path, null, `${path}: an Anthropic channel has no structured output `
      + 'format (response_format / text.format); route this model to an OpenAI channel or drop the field');
  }
  const out: JsonObject = { model: ir.model };
  const system = ir.system.filter((s) => s.length > 0);
  if (system.length > 0) out.system = system.join('\n\n');
  out.messages = ir.messages.map(encodeMessage);
  let maxTokens = ir.maxTokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS;
  const budget = ir.reasoning === null ? null : budgetOf(ir.reasoning);
  if (budget !== null) {
    // Thinking counts against max_tokens, which must exceed the budget: the answer keeps its own allowance on top.
    if (maxTokens <= budget) maxTokens += budget;
    out.thinking = { type: 'enabled', budget_tokens: budget };
  }
  out.max_tokens = maxTokens;
  if (ir.temperature !== undefined && ir.temperature !== null) out.temperature = ir.temperature;
  if (ir.topP !== undefined && ir.topP !== null) out.top_p = ir.topP;
  if (ir.stop !== null) out.stop_sequences = ir.stop;
  if (ir.stream !== undefined && ir.stream !== null) out.stream = ir.stream;
  if (ir.user !== null) out.metadata = { user_id: ir.user };
  if (ir.tools !== null) {
    out.tools = ir.tools.map(function toolToAnthropic(t) {
      const tool: JsonObject = { name: t.name };
      if (t.description !== null) tool.description = t.description;
      tool.input_schema = t.schema ?? { type: 'object', properties: {} };
      return tool;
    });
  }
  const choice = ir.toolChoice;
  let tc: JsonObject | null = null;
  if (choice !== null) tc = choice.type === 'tool' ? { type: 'tool', name: choice.name } : { type: choice.type };
  if (ir.parallelToolCalls === false && ir.tools !== null && (tc === null || tc.type !== 'none')) {
    tc ??= { type: 'auto' };
    tc.disable_parallel_tool_use = true;
  }
  if (tc !== null) out.tool_choice = tc;
  return out;
}

function decodeResponse(root: JsonObject): IrResponse {
  if (root.type !== 'message') throw shapeError('$.type', '"message"', root.type);
  const blocks = expectArray(root.content, '$.content');
  const content: IrPart[] = [];
  for (let k = 0; k < blocks.length; k++) {
    const base = `$.content[${k}]`;
    const b = expectObject(blocks[k], base);
    const type = expectString(b, 'type', base);
    if (type === 'text') content.push({ type: 'text', text: expectString(b, 'text', base), cache: null });
    else if (type === 'tool_use') {
      const input = isObject(b.input) ? b.input : {};
      content.push({ type: 'tool_call', id: expectString(b, 'id', base), name: expectString(b, 'name', base), input });
    } else if (type === 'thinking') {
      const text = expectString(b, 'thinking', base);
      content.push({ type: 'thinking', text, signature: stringOr(b.signature, null) });
    }
  }
  const usage = isObject(root.usage) ? root.usage : {};
  return {
    id: typeof root.id === 'string' ? root.id : '',
    model: typeof root.model === 'string' ? root.model : '',
    created: null,
    content,
    stop: (typeof root.stop_reason === 'string' ? root.stop_reason : 'end_turn') as IrStop,
    stopSequence: typeof root.stop_sequence === 'string' ? root.stop_sequence : null,
    usage: {
      input: numberOr(usage.input_tokens), output: numberOr(usage.output_tokens),
      cacheRead: numberOr(usage.cache_read_input_tokens), cacheWrite: numberOr(usage.cache_creation_input_tokens),
    },
  };
}

/** The answer as Messages JSON text, written directly (see the Chat encoder): the same bytes as its object form. */
function encodeResponse(ir: IrResponse): string {
  let content = '';
  for (const p of ir.content) {
    let block: string;
    if (p.type === 'text') block = '{"type":"text","text":' + quote(p.text) + '}';
    else if (p.type === 'tool_call') {
      block = '{"type":"tool_use","id":' + quote(p.id) + ',"name":' + quote(p.name) + ',"input":' + jsonText(p.input)
        + '}';
    } else if (p.type === 'thinking') {
      block = '{"type":"thinking","thinking":' + quote(p.text) + ',"signature":' + quote(p.signature ?? '') + '}';
    } else continue;
    content += content.length > 0 ? ',' + block : block;
  }
  const u = ir.usage;
  let usage = '{"input_tokens":' + numberText(u.input) + ',"output_tokens":' + numberText(u.output);
  if (u.cacheRead > 0) usage += ',"cache_read_input_tokens":' + numberText(u.cacheRead);
  if (u.cacheWrite > 0) usage += ',"cache_creation_input_tokens":' + numberText(u.cacheWrite);
  return '{"id":' + quote(ir.id) + ',"type":"message","role":"assistant","model":' + quote(ir.model) + ',"content":['
    + content + '],"stop_reason":' + quote(ir.stop) + ',"stop_sequence":'
    + (ir.stopSequence === null ? 'null' : quote(ir.stopSequence)) + ',"usage":' + usage + '}}';
}

function decodeError(root: JsonObject): IrError {
  const err = expectObject(root.error, '$.error');
  return { type: stringOr(err.type, 'api_error'), message: expectString(err, 'message', '$.error') };
}

function encodeError(err: IrError): JsonObject {
  return { type: 'error', error: { type: err.type, message: err.message } };
}

export const ANTHROPIC_REQUEST: RequestCodec = { decode: decodeRequest, encode: encodeRequest };
export const ANTHROPIC_RESPONSE: ResponseCodec = {
  isError: function anthropicIsError(root) {
    return root.type === 'error';
  },
  decodeError, encodeError, decode: decodeResponse, encode: encodeResponse,
};
