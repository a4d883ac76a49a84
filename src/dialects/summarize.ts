import { JsonBodyError } from '../errors.js';
import { decodeJsonBody } from './decode.js';
import {
  child, expectArray, expectObject, expectString, isObject, optionalBoolean, optionalNumber, optionalString, readDotted,
  shapeError,
} from './shape.js';
import type { Dialect, JsonObject, JsonValue, RequestSummary } from './types.js';

const OPENAI_ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);
const ANTHROPIC_ROLES = new Set(['user', 'assistant']);

/**
 * Parses and validates a request body for its endpoint and returns only what routing needs.
 * Throws JsonBodyError (utf8 / syntax / shape) with the JSON path or byte position.
 */
export function summarizeRequest(dialect: Dialect, body: Uint8Array, sessionField: string | null): RequestSummary {
  const root = expectObject(decodeJsonBody(body), '$');
  return summarizeParsed(dialect, root, sessionField);
}

export function summarizeParsed(dialect: Dialect, root: JsonObject, sessionField: string | null): RequestSummary {
  let chars: number;
  let count: number;
  let extraTokens = 0;
  switch (dialect) {
    case 'openai-chat': {
      const r = validateOpenAIChat(root);
      chars = r.chars; count = r.count;
      break;
    }
    case 'anthropic-messages':
    case 'anthropic-count-tokens': {
      const r = validateAnthropicMessages(root, dialect === 'anthropic-messages');
      chars = r.chars; count = r.count;
      break;
    }
    case 'openai-responses': {
      const r = validateResponses(root);
      chars = r.chars; count = r.count;
      break;
    }
    case 'gemini-generate':
    case 'gemini-count-tokens': {
      const r = validateGemini(root);
      chars = r.chars; count = r.count;
      break;
    }
    case 'openai-completions': {
      const r = validatePromptLike(root, 'prompt');
      chars = r.chars; count = r.count; extraTokens = r.tokens;
      break;
    }
    case 'openai-embeddings': {
      const r = validatePromptLike(root, 'input');
      chars = r.chars; count = r.count; extraTokens = r.tokens;
      break;
    }
    default:
      throw new JsonBodyError('unsupported', '$', null, `unknown dialect "${String(dialect)}"`);
  }
  // Gemini's model is in its URL: the gateway fills it in.
  const gemini = dialect === 'gemini-generate' || dialect === 'gemini-count-tokens';
  const model = gemini ? '' : expectString(root, 'model', '$');
  if (!gemini && model.length === 0) throw shapeError('$.model', 'a model name', model);
  return {
    model,
    stream: optionalBoolean(root, 'stream', '$') ?? false,
    sessionId: sessionField ? readDotted(root, sessionField) : null,
    messageCount: count,
    estimatedPromptTokens: Math.ceil(chars / 4) + extraTokens,
  };
}

interface Counted { chars: number; count: number }

/** OpenAI Chat Completions request: model, messages[] with known roles and content shapes. */
export function validateOpenAIChat(root: JsonObject): Counted {
  expectString(root, 'model', '$');
  optionalBoolean(root, 'stream', '$');
  optionalNumber(root, 'max_tokens', '$');
  optionalNumber(root, 'max_completion_tokens', '$');
  optionalNumber(root, 'temperature', '$');
  optionalNumber(root, 'top_p', '$');
  const messages = expectArray(root.messages, '$.messages');
  if (messages.length === 0) throw shapeError('$.messages', 'at least one message', messages);
  let chars = 0;
  let count = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!isObject(m)) throw shapeError(`$.messages[${i}]`, 'a message object', m);
    const role = m.role;
    if (typeof role !== 'string' || !OPENAI_ROLES.has(role)) {
      throw shapeError(`$.messages[${i}].role`, 'one of system, developer, user, assistant, tool', role);
    }
    if (role !== 'system' && role !== 'developer') count++;
    chars += openAIContentChars(m.content, `$.messages[${i}]`, role === 'assistant' || role === 'function');
    if (role === 'assistant' && m.tool_calls !== undefined && m.tool_calls !== null) {
      const calls = expectArray(m.tool_calls, `$.messages[${i}].tool_calls`);
      for (let k = 0; k < calls.length; k++) {
        const base = `$.messages[${i}].tool_calls[${k}]`;
        const call = expectObject(calls[k], base);
        expectString(call, 'id', base);
        const fn = expectObject(call.function, `${base}.function`);
        expectString(fn, 'name', `${base}.function`);
        chars += expectString(fn, 'arguments', `${base}.function`).length;
      }
    }
    if (role === 'tool') expectString(m, 'tool_call_id', `$.messages[${i}]`);
  }
  return { chars, count };
}

function openAIContentChars(content: JsonValue | undefined, path: string, nullable: boolean): number {
  if (typeof content === 'string') return content.length;
  if ((content === null || content === undefined) && nullable) return 0;
  if (!Array.isArray(content)) {
    throw shapeError(
      `${path}.content`, nullable ? 'a string, an array of parts or null' : 'a string or an array of parts', content,
    );
  }
  let chars = 0;
  for (let k = 0; k < content.length; k++) {
    const base = `${path}.content[${k}]`;
    const part = expectObject(content[k], base);
    const type = expectString(part, 'type', base);
    if (type === 'text') chars += expectString(part, 'text', base).length;
    else if (type === 'image_url') {
      const img = expectObject(part.image_url, `${base}.image_url`);
      expectString(img, 'url', `${base}.image_url`);
    }
  }
  return chars;
}

/** Anthropic Messages request: model, max_tokens, messages[] alternating user/assistant, optional system. */
export function validateAnthropicMessages(root: JsonObject, needsMaxTokens = true): Counted {
  expectString(root, 'model', '$');
  optionalBoolean(root, 'stream', '$');
  const maxTokens = root.max_tokens;
  // count_tokens makes no answer, so it needs no limit.
  const checked = needsMaxTokens || maxTokens !== undefined;
  if (checked && (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1)) {
    throw shapeError('$.max_tokens', 'a positive integer', maxTokens);
  }
  let chars = 0;
  const system = root.system;
  if (typeof system === 'string') chars += system.length;
  else if (system !== undefined && system !== null) {
    chars += anthropicBlocksChars(expectArray(system, '$.system'), '$.system');
  }
  const messages = expectArray(root.messages, '$.messages');
  if (messages.length === 0) throw shapeError('$.messages', 'at least one message', messages);
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!isObject(m)) throw shapeError(`$.messages[${i}]`, 'a message object', m);
    const role = m.role;
    if (typeof role !== 'string' || !ANTHROPIC_ROLES.has(role)) {
      throw shapeError(`$.messages[${i}].role`, 'user or assistant', role);
    }
    const content = m.content;
    if (typeof content === 'string') chars += content.length;
    else chars += anthropicBlocksChars(expectArray(content, `$.messages[${i}].content`), `$.messages[${i}].content`);
  }
  return { chars, count: messages.length };
}

function anthropicBlocksChars(blocks: JsonValue[], path: string): number {
  let chars = 0;
  for (let k = 0; k < blocks.length; k++) {
    const base = `${path}[${k}]`;
    const block = expectObject(blocks[k], base);
    const type = expectString(block, 'type', base);
    switch (type) {
      case 'text':
        chars += expectString(block, 'text', base).length;
        break;
      case 'tool_use':
        expectString(block, 'id', base);
        expectString(block, 'name', base);
        expectObject(block.input, `${base}.input`);
        break;
      case 'tool_result': {
        expectString(block, 'tool_use_id', base);
        const c = block.content;
        if (typeof c === 'string') chars += c.length;
        else if (c !== undefined && c !== null) {
          chars += anthropicBlocksChars(expectArray(c, `${base}.content`), `${base}.content`);
        }
        break;
      }
      case 'image': {
        const src = expectObject(block.source, `${base}.source`);
        expectString(src, 'type', `${base}.source`);
        break;
      }
      case 'thinking':
        chars += (optionalString(block, 'thinking', base) ?? '').length;
        break;
      default:
        break;
    }
  }
  return chars;
}

/** OpenAI Responses request: model, input (a string or items), optional instructions. */
export function validateResponses(root: JsonObject): Counted {
  expectString(root, 'model', '$');
  optionalBoolean(root, 'stream', '$');
  optionalNumber(root, 'max_output_tokens', '$');
  optionalNumber(root, 'temperature', '$');
  optionalNumber(root, 'top_p', '$');
  let chars = (optionalString(root, 'instructions', '$') ?? '').length;
  const input = root.input;
  if (typeof input === 'string') return { chars: chars + input.length, count: 1 };
  const items = expectArray(input, '$.input');
  for (let i = 0; i < items.length; i++) {
    const item = expectObject(items[i], `$.input[${i}]`);
    const content = item.content;
    if (typeof content === 'string') chars += content.length;
    else if (Array.isArray(content)) {
      for (let k = 0; k < content.length; k++) {
        const part = expectObject(content[k], `$.input[${i}].content[${k}]`);
        if (typeof part.text === 'string') chars += part.text.length;
      }
    }
    if (typeof item.arguments === 'string') chars += item.arguments.length;
    if (typeof item.output === 'string') chars += item.output.length;
  }
  return { chars, count: items.length };
}

/** Gemini generateContent / countTokens: contents[] of parts (or a whole generateContentRequest to count). */
export function validateGemini(root: JsonObject): Counted {
  const request = isObject(root.generateContentRequest) ? root.generateContentRequest : root;
  const contents = expectArray(request.contents, '$.contents');
  let chars = 0;
  for (let i = 0; i < contents.length; i++) {
    const c = expectObject(contents[i], `$.contents[${i}]`);
    const parts = expectArray(c.parts, `$.contents[${i}].parts`);
    for (let k = 0; k < parts.length; k++) {
      const p = expectObject(parts[k], `$.contents[${i}].parts[${k}]`);
      if (typeof p.text === 'string') chars += p.text.length;
    }
  }
  return { chars, count: contents.length };
}

interface PromptCounted extends Counted { tokens: number }

/** Completions `prompt` / embeddings `input`: a string, strings, token ids, or arrays of token ids. */
function validatePromptLike(root: JsonObject, key: 'prompt' | 'input'): PromptCounted {
  expectString(root, 'model', '$');
  optionalBoolean(root, 'stream', '$');
  const v = root[key];
  const path = child('$', key);
  if (typeof v === 'string') return { chars: v.length, count: 1, tokens: 0 };
  const list = expectArray(v, path);
  if (list.length === 0) throw shapeError(path, 'a non-empty string or array', list);
  let chars = 0;
  let tokens = 0;
  let count = 0;
  const first = list[0];
  if (typeof first === 'number') {
    for (let i = 0; i < list.length; i++) {
      if (typeof list[i] !== 'number') throw shapeError(`${path}[${i}]`, 'a token id', list[i]);
    }
    return { chars: 0, count: 1, tokens: list.length };
  }
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    count++;
    if (typeof item === 'string') chars += item.length;
    else if (Array.isArray(item)) {
      for (let k = 0; k < item.length; k++) {
        if (typeof item[k] !== 'number') throw shapeError(`${path}[${i}][${k}]`, 'a token id', item[k]);
      }
      tokens += item.length;
    } else throw shapeError(`${path}[${i}]`, 'a string or an array of token ids', item);
  }
  return { chars, count, tokens };
}
