import { JsonBodyError } from '../errors.js';
import { decodeJsonBody, encodeJsonBody, stringifyNested } from './decode.js';
import { expectObject, isObject } from './shape.js';
import { validateAnthropicMessages, validateOpenAIChat } from './summarize.js';
import type { ChatDialect, JsonObject, JsonValue } from './types.js';

/*
 * What converts: model, system/developer prompts, user/assistant/tool turns (text, images by URL or base64, tool
 * calls ⇄ tool_use, tool results ⇄ tool_result), max_tokens (max_completion_tokens wins), temperature, top_p,
 * stop ⇄ stop_sequences, stream, user ⇄ metadata.user_id, tools and tool_choice. What has no counterpart is dropped:
 * OpenAI n, seed, logprobs, response_format, penalties, stream_options; Anthropic top_k, thinking blocks, cache
 * control. Canonical bodies (see test/fixtures/pool/bodies.ts) round-trip exactly both ways.
 */

/** Anthropic requires max_tokens; OpenAI bodies often omit it. */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

/** Validates a request body in `from` and returns it rewritten for `to` (same dialect: validated, unchanged). */
export function convertRequestBody(from: ChatDialect, to: ChatDialect, body: Uint8Array): Buffer {
  const root = expectObject(decodeJsonBody(body), '$');
  if (from === 'openai-chat') validateOpenAIChat(root);
  else if (from === 'anthropic-messages') validateAnthropicMessages(root);
  else throw new JsonBodyError('unsupported', '$', null, `cannot convert requests from "${String(from)}"`);
  if (from === to) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (to === 'anthropic-messages') return encodeJsonBody(openAIChatToAnthropic(root));
  if (to === 'openai-chat') return encodeJsonBody(anthropicToOpenAIChat(root));
  throw new JsonBodyError('unsupported', '$', null, `cannot convert requests to "${String(to)}"`);
}

function textOf(content: JsonValue | undefined): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const part of content) {
    if (isObject(part) && part.type === 'text' && typeof part.text === 'string') {
      out += out ? `\n\n${part.text}` : part.text;
    }
  }
  return out;
}

function parseArguments(args: string, path: string): JsonObject {
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

function openAIPartToAnthropic(part: JsonObject): JsonObject {
  if (part.type === 'text') return { type: 'text', text: part.text as string };
  if (part.type === 'image_url' && isObject(part.image_url)) {
    const url = part.image_url.url as string;
    const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
    if (m) return { type: 'image', source: { type: 'base64', media_type: m[1]!, data: m[2]! } };
    return { type: 'image', source: { type: 'url', url } };
  }
  return part;
}

/** OpenAI Chat Completions request → Anthropic Messages request. */
export function openAIChatToAnthropic(root: JsonObject): JsonObject {
  const out: JsonObject = { model: root.model as string };
  const system: string[] = [];
  const messages: JsonObject[] = [];
  const src = root.messages as JsonObject[];
  for (let i = 0; i < src.length; i++) {
    const m = src[i]!;
    const role = m.role as string;
    if (role === 'system' || role === 'developer') {
      system.push(textOf(m.content));
      continue;
    }
    if (role === 'tool' || role === 'function') {
      const block: JsonObject = {
        type: 'tool_result', tool_use_id: (m.tool_call_id ?? m.name ?? '') as string, content: textOf(m.content),
      };
      const last = messages[messages.length - 1];
      if (
        last && last.role === 'user' && Array.isArray(last.content) &&
        last.content.every((b) => isObject(b) && b.type === 'tool_result')
      ) {
        (last.content as JsonValue[]).push(block);
      } else messages.push({ role: 'user', content: [block] });
      continue;
    }
    if (role === 'assistant') {
      const calls = Array.isArray(m.tool_calls) ? (m.tool_calls as JsonObject[]) : [];
      if (calls.length === 0 && typeof m.content === 'string') {
        messages.push({ role: 'assistant', content: m.content });
        continue;
      }
      const blocks: JsonValue[] = [];
      if (typeof m.content === 'string' && m.content.length > 0) blocks.push({ type: 'text', text: m.content });
      else if (Array.isArray(m.content)) {
        for (const p of m.content) if (isObject(p)) blocks.push(openAIPartToAnthropic(p));
      }
      for (let k = 0; k < calls.length; k++) {
        const fn = calls[k]!.function as JsonObject;
        blocks.push({
          type: 'tool_use', id: calls[k]!.id as string, name: fn.name as string,
          input: parseArguments(fn.arguments as string, `$.messages[${i}].tool_calls[${k}].function.arguments`),
        });
      }
      messages.push({ role: 'assistant', content: blocks });
      continue;
    }
    // user
    if (typeof m.content === 'string') messages.push({ role: 'user', content: m.content });
    else messages.push({ role: 'user', content: (m.content as JsonObject[]).map(openAIPartToAnthropic) });
  }
  if (system.length > 0) out.system = system.join('\n\n');
  out.messages = messages;
  const maxTokens = root.max_completion_tokens ?? root.max_tokens;
  out.max_tokens = typeof maxTokens === 'number' ? maxTokens : DEFAULT_ANTHROPIC_MAX_TOKENS;
  if (root.temperature !== undefined && root.temperature !== null) out.temperature = root.temperature;
  if (root.top_p !== undefined && root.top_p !== null) out.top_p = root.top_p;
  if (typeof root.stop === 'string') out.stop_sequences = [root.stop];
  else if (Array.isArray(root.stop)) out.stop_sequences = root.stop;
  if (root.stream !== undefined && root.stream !== null) out.stream = root.stream;
  if (typeof root.user === 'string') out.metadata = { user_id: root.user };
  if (Array.isArray(root.tools)) {
    out.tools = root.tools.map(function toolToAnthropic(t) {
      const fn = (isObject(t) && isObject(t.function) ? t.function : {}) as JsonObject;
      const tool: JsonObject = { name: (fn.name ?? '') as string };
      if (typeof fn.description === 'string') tool.description = fn.description;
      tool.input_schema = isObject(fn.parameters) ? fn.parameters : { type: 'object', properties: {} };
      return tool;
    });
  }
  const choice = root.tool_choice;
  if (choice === 'auto') out.tool_choice = { type: 'auto' };
  else if (choice === 'required') out.tool_choice = { type: 'any' };
  else if (choice === 'none') out.tool_choice = { type: 'none' };
  else if (isObject(choice) && isObject(choice.function)) {
    out.tool_choice = { type: 'tool', name: choice.function.name as string };
  }
  return out;
}

function anthropicBlockToOpenAIPart(block: JsonObject): JsonObject {
  if (block.type === 'text') return { type: 'text', text: block.text as string };
  if (block.type === 'image' && isObject(block.source)) {
    const s = block.source;
    const url = s.type === 'base64' ? `data:${s.media_type as string};base64,${s.data as string}` : (s.url as string);
    return { type: 'image_url', image_url: { url } };
  }
  return block;
}

/** Anthropic Messages request → OpenAI Chat Completions request. */
export function anthropicToOpenAIChat(root: JsonObject): JsonObject {
  const out: JsonObject = { model: root.model as string };
  const messages: JsonObject[] = [];
  const system = textOf(root.system);
  if (system) messages.push({ role: 'system', content: system });
  const src = root.messages as JsonObject[];
  for (let i = 0; i < src.length; i++) {
    const m = src[i]!;
    const role = m.role as string;
    if (typeof m.content === 'string') {
      messages.push({ role, content: m.content });
      continue;
    }
    const blocks = m.content as JsonObject[];
    if (role === 'assistant') {
      let text = '';
      const calls: JsonObject[] = [];
      for (let k = 0; k < blocks.length; k++) {
        const b = blocks[k]!;
        if (b.type === 'text') text += b.text as string;
        else if (b.type === 'tool_use') {
          const args = stringifyNested(b.input, `$.messages[${i}].content[${k}].input`);
          calls.push({ id: b.id as string, type: 'function', function: { name: b.name as string, arguments: args } });
        }
      }
      const msg: JsonObject = { role: 'assistant', content: calls.length > 0 && text === '' ? null : text };
      if (calls.length > 0) msg.tool_calls = calls;
      messages.push(msg);
      continue;
    }
    const parts: JsonObject[] = [];
    for (const b of blocks) {
      if (b.type === 'tool_result') {
        messages.push({ role: 'tool', tool_call_id: b.tool_use_id as string, content: textOf(b.content) });
      } else parts.push(anthropicBlockToOpenAIPart(b));
    }
    if (parts.length > 0) messages.push({ role: 'user', content: parts });
  }
  out.messages = messages;
  out.max_tokens = root.max_tokens as number;
  if (root.temperature !== undefined) out.temperature = root.temperature;
  if (root.top_p !== undefined) out.top_p = root.top_p;
  if (Array.isArray(root.stop_sequences)) out.stop = root.stop_sequences;
  if (root.stream !== undefined) out.stream = root.stream;
  if (isObject(root.metadata) && typeof root.metadata.user_id === 'string') out.user = root.metadata.user_id;
  if (Array.isArray(root.tools)) {
    out.tools = root.tools.map(function toolToOpenAI(t) {
      const tool = (isObject(t) ? t : {}) as JsonObject;
      const fn: JsonObject = { name: (tool.name ?? '') as string };
      if (typeof tool.description === 'string') fn.description = tool.description;
      if (tool.input_schema !== undefined) fn.parameters = tool.input_schema;
      return { type: 'function', function: fn };
    });
  }
  const choice = root.tool_choice;
  if (isObject(choice)) {
    if (choice.type === 'auto') out.tool_choice = 'auto';
    else if (choice.type === 'any') out.tool_choice = 'required';
    else if (choice.type === 'none') out.tool_choice = 'none';
    else if (choice.type === 'tool') out.tool_choice = { type: 'function', function: { name: choice.name as string } };
  }
  return out;
}
