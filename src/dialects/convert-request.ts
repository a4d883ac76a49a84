import { JsonBodyError } from '../errors.js';
import { decodeJsonBody, encodeJsonBody } from './decode.js';
import { ANTHROPIC_REQUEST } from './ir/anthropic.js';
import { CHAT_REQUEST } from './ir/chat.js';
import { decodeGeminiRequest, encodeGeminiRequest } from './ir/gemini.js';
import { plainRequestText } from './ir/plain-request.js';
import { RESPONSES_REQUEST } from './ir/responses.js';
import type { IrRequest } from './ir/types.js';
import { expectObject } from './shape.js';
import { validateAnthropicMessages, validateGemini, validateOpenAIChat, validateResponses } from './summarize.js';
import type { ChatDialect, JsonObject } from './types.js';

/*
 * Every conversion goes through the IR (ir/types.ts): the source dialect decodes, the target encodes. What converts
 * and what is refused is listed in docs/dialects.md. Canonical bodies (test/fixtures/pool/bodies.ts) round-trip
 * exactly between Chat and Messages.
 */

export { DEFAULT_ANTHROPIC_MAX_TOKENS } from './ir/anthropic.js';

type Decode = (root: JsonObject) => IrRequest;
type Encode = (ir: IrRequest) => JsonObject;

function decoder(from: ChatDialect): Decode {
  switch (from) {
    case 'openai-chat': return CHAT_REQUEST.decode;
    case 'anthropic-messages': return ANTHROPIC_REQUEST.decode;
    case 'openai-responses': return RESPONSES_REQUEST.decode;
    case 'gemini-generate': return decodeGeminiRequest;
    default: throw new JsonBodyError('unsupported', '$', null, `cannot convert requests from "${String(from)}"`);
  }
}

function encoder(to: ChatDialect): Encode {
  switch (to) {
    case 'openai-chat': return CHAT_REQUEST.encode;
    case 'anthropic-messages': return ANTHROPIC_REQUEST.encode;
    case 'gemini-generate': return encodeGeminiRequest;
    default: throw new JsonBodyError('unsupported', '$', null, `cannot convert requests to "${String(to)}"`);
  }
}

function validate(from: ChatDialect, root: JsonObject): void {
  if (from === 'openai-chat') validateOpenAIChat(root);
  else if (from === 'anthropic-messages') validateAnthropicMessages(root);
  else if (from === 'openai-responses') validateResponses(root);
  else if (from === 'gemini-generate') validateGemini(root);
  else throw new JsonBodyError('unsupported', '$', null, `cannot convert requests from "${String(from)}"`);
}

/**
 * Validates a request body in `from` and returns it rewritten for `to` (same dialect: validated, unchanged).
 * `inUrl`: the model and streaming of a dialect that has them in its URL (Gemini), else null.
 */
export function convertRequestBody(
  from: ChatDialect, to: ChatDialect, body: Uint8Array, inUrl: UrlFields | null = null,
): Buffer {
  const root = expectObject(decodeJsonBody(body), '$');
  validate(from, root);
  if (from === to) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return convertParsedRequest(from, to, root, inUrl);
}

/**
 * The same for a body already parsed and validated as `from` (summarizeParsed did both): the gateway parses a small
 * request once. The decoders only read `root`. `from` must differ from `to`.
 */
export function convertParsedRequest(
  from: ChatDialect, to: ChatDialect, root: JsonObject, inUrl: UrlFields | null,
): Buffer {
  const ir = decoder(from)(root);
  if (inUrl !== null) {
    ir.model = inUrl.model;
    ir.stream = inUrl.stream;
  }
  const plain = plainRequestText(to, ir);
  return plain !== null ? Buffer.from(plain, 'utf8') : encodeJsonBody(encoder(to)(ir));
}

/** What a Gemini request says in its URL. */
export interface UrlFields {
  readonly model: string;
  readonly stream: boolean;
}

/** The request as the IR (for local token counting and tests). */
export function decodeRequestBody(from: ChatDialect, body: Uint8Array): IrRequest {
  const root = expectObject(decodeJsonBody(body), '$');
  validate(from, root);
  return decoder(from)(root);
}
