import { JsonBodyError } from '../errors.js';
import { decodeJsonBody, encodeJsonBody } from './decode.js';
import { ANTHROPIC_RESPONSE } from './ir/anthropic.js';
import { CHAT_RESPONSE } from './ir/chat.js';
import { GEMINI_RESPONSE } from './ir/gemini.js';
import { RESPONSES_RESPONSE } from './ir/responses.js';
import type { ResponseCodec } from './ir/types.js';
import { expectObject } from './shape.js';
import type { ChatDialect } from './types.js';

/** The codec of an upstream dialect (answers come from Chat or Messages channels; Responses ones pass through). */
function upstreamCodec(from: ChatDialect): ResponseCodec {
  if (from === 'openai-chat') return CHAT_RESPONSE;
  if (from === 'anthropic-messages') return ANTHROPIC_RESPONSE;
  if (from === 'gemini-generate') return GEMINI_RESPONSE;
  throw new JsonBodyError('unsupported', '$', null, `cannot convert responses from "${String(from)}"`);
}

/**
 * Validates a NON-streamed response body in `from` and returns it rewritten for `to`, through the IR. Error bodies
 * (`{ error: … }` / `{ type: "error", … }`) are converted too, so a client always sees its own dialect.
 */
export function convertResponseBody(from: ChatDialect, to: ChatDialect, body: Uint8Array): Buffer {
  const root = expectObject(decodeJsonBody(body), '$');
  const source = upstreamCodec(from);
  if (to !== 'openai-chat' && to !== 'anthropic-messages' && to !== 'openai-responses' && to !== 'gemini-generate') {
    throw new JsonBodyError('unsupported', '$', null, `cannot convert responses to "${String(to)}"`);
  }
  // Responses errors have Chat's shape.
  let target = CHAT_RESPONSE;
  if (to === 'anthropic-messages') target = ANTHROPIC_RESPONSE;
  else if (to === 'gemini-generate') target = GEMINI_RESPONSE;
  if (source.isError(root)) {
    const err = source.decodeError(root);
    if (from === to) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    return encodeJsonBody(target.encodeError(err));
  }
  const ir = source.decode(root);
  if (from === to) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return Buffer.from(to === 'openai-responses' ? RESPONSES_RESPONSE.encode(ir) : target.encode(ir), 'utf8');
}
