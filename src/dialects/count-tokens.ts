import type { Tiktoken } from 'js-tiktoken/lite';
import { JsonBodyError } from '../errors.js';
import { decodeRequestBody } from './convert-request.js';
import { decodeJsonBody, stringifyNested } from './decode.js';
import { ANTHROPIC_REQUEST } from './ir/anthropic.js';
import { decodeGeminiCount } from './ir/gemini.js';
import type { IrRequest } from './ir/types.js';
import { expectObject } from './shape.js';
import { validateAnthropicMessages, validateGemini } from './summarize.js';
import type { Dialect } from './types.js';

/*
 * Local token counting for `count_tokens` requests a channel cannot answer itself: OpenAI's own tokenizers
 * (js-tiktoken, whose ranks ship inside the npm package: nothing is downloaded), chosen by model name. Other model
 * families have no public tokenizer here and get a 400 that says so. Building a tokenizer from its ranks takes
 * hundreds of milliseconds, so it is made once per thread, and the gateway counts in the worker pool.
 */

export type Encoding = 'o200k_base' | 'cl100k_base';

/** The answer of a local count: the number and how it was made (named in the response's header). */
export interface TokenCount {
  readonly inputTokens: number;
  readonly method: string;
}

/** The tokenizer of an OpenAI model name, or null for other families. */
export function encodingFor(model: string): Encoding | null {
  const m = model.toLowerCase().replace(/^openai\//, '');
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o[1-9]|chatgpt-|codex-|computer-use)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada)/.test(m)) return 'cl100k_base';
  return null;
}

/** Tokens the chat format adds per message and to prime the answer (OpenAI's published counting recipe). */
const PER_MESSAGE = 3;
const REPLY_PRIMING = 3;
/** An image's tokens at low detail, OpenAI's base figure; images are not decoded to find their size. */
const PER_IMAGE = 85;

const tokenizers = new Map<Encoding, Promise<Tiktoken>>();

function tokenizer(encoding: Encoding): Promise<Tiktoken> {
  let made = tokenizers.get(encoding);
  if (made === undefined) {
    made = makeTokenizer(encoding);
    tokenizers.set(encoding, made);
  }
  return made;
}

async function makeTokenizer(encoding: Encoding): Promise<Tiktoken> {
  const { Tiktoken } = await import('js-tiktoken/lite');
  const ranks = encoding === 'o200k_base'
    ? (await import('js-tiktoken/ranks/o200k_base')).default
    : (await import('js-tiktoken/ranks/cl100k_base')).default;
  return new Tiktoken(ranks);
}

/** Counts the prompt tokens of a request in the IR with the model's OpenAI tokenizer. */
export async function countTokens(ir: IrRequest): Promise<TokenCount> {
  const encoding = encodingFor(ir.model);
  if (encoding === null) {
    throw new JsonBodyError('unsupported', '$.model', null, `$.model: "${ir.model}" has no local tokenizer: `
      + 'tidegate counts OpenAI models (gpt-*, o*, chatgpt-*, codex-*) itself; other families need a channel '
      + 'that counts them (an anthropic channel answers count_tokens)');
  }
  const tk = await tokenizer(encoding);
  return { inputTokens: countWith(tk, ir), method: `tiktoken/${encoding}` };
}

/**
 * Counts the prompt tokens of a request body in its dialect (a count_tokens body, or any chat request); `model`:
 * the model when the URL says it (Gemini).
 */
export function countBodyTokens(dialect: Dialect, body: Uint8Array, model: string | null): Promise<TokenCount> {
  let ir: IrRequest;
  if (dialect === 'gemini-count-tokens') {
    const root = expectObject(decodeJsonBody(body), '$');
    validateGemini(root);
    ir = decodeGeminiCount(root);
  } else if (dialect === 'anthropic-count-tokens') {
    const root = expectObject(decodeJsonBody(body), '$');
    validateAnthropicMessages(root, false);
    ir = ANTHROPIC_REQUEST.decode(root);
  } else if (dialect === 'openai-chat' || dialect === 'anthropic-messages' || dialect === 'openai-responses') {
    ir = decodeRequestBody(dialect, body);
  } else {
    throw new JsonBodyError('unsupported', '$', null, `cannot count tokens of "${dialect}" requests`);
  }
  if (model !== null) ir.model = model;
  return countTokens(ir);
}

function tokens(tk: Tiktoken, text: string): number {
  return text.length === 0 ? 0 : tk.encode(text, [], []).length;
}

function countWith(tk: Tiktoken, ir: IrRequest): number {
  let n = REPLY_PRIMING;
  for (const s of ir.system) n += PER_MESSAGE + tokens(tk, s);
  for (let i = 0; i < ir.messages.length; i++) {
    const m = ir.messages[i]!;
    n += PER_MESSAGE;
    if (typeof m.content === 'string') {
      n += tokens(tk, m.content);
      continue;
    }
    for (let k = 0; k < m.content.length; k++) {
      const p = m.content[k]!;
      switch (p.type) {
        case 'text': n += tokens(tk, p.text); break;
        case 'thinking': n += tokens(tk, p.text); break;
        case 'image': n += PER_IMAGE; break;
        case 'tool_call':
          n += tokens(tk, p.name) + tokens(tk, stringifyNested(p.input, `$.messages[${i}].content[${k}].input`));
          break;
        case 'tool_result': n += PER_MESSAGE + tokens(tk, p.content); break;
        case 'other': n += tokens(tk, stringifyNested(p.value, p.path)); break;
      }
    }
  }
  if (ir.tools !== null) {
    for (const t of ir.tools) {
      n += tokens(tk, t.name) + tokens(tk, t.description ?? '');
      if (t.schema !== null) n += tokens(tk, stringifyNested(t.schema, '$.tools'));
    }
  }
  return n;
}
