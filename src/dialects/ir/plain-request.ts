import { jsonText, numberText, quote } from '../decode.js';
import type { ChatDialect } from '../types.js';
import { DEFAULT_ANTHROPIC_MAX_TOKENS } from './anthropic.js';
import type { IrRequest } from './types.js';

/**
 * A plain request (every turn a string; no tools, tool choice, reasoning or response format: the usual chat turn)
 * written as the target's JSON text directly, without building the objects the encoders make for JSON.stringify:
 * the same bytes, keys in the same order. Anything else, and targets without a text form here, give null: the
 * object encoders take them.
 */
export function plainRequestText(to: ChatDialect, ir: IrRequest): string | null {
  if (ir.tools !== null || ir.toolChoice !== null || ir.reasoning !== null || ir.responseFormat !== null) return null;
  // A body without a model (a Gemini body converted without its URL) leaves the key out: the encoders' business.
  if (typeof ir.model !== 'string') return null;
  const messages = ir.messages;
  for (let i = 0; i < messages.length; i++) if (typeof messages[i]!.content !== 'string') return null;
  if (to === 'openai-chat') return chatText(ir);
  if (to === 'anthropic-messages') return anthropicText(ir);
  return null;
}

/** The system segments as the encoders join them ('' when none has text). */
function systemText(ir: IrRequest): string {
  let out = '';
  for (let i = 0; i < ir.system.length; i++) {
    const s = ir.system[i]!;
    if (s.length > 0) out = out.length > 0 ? out + '\n\n' + s : s;
  }
  return out;
}

/** The turns as `{"role":…,"content":…}` objects, comma-separated (every content a string: checked above). */
function turnsText(ir: IrRequest, first: string): string {
  let out = first;
  const messages = ir.messages;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (out.length > 0) out += ',';
    out += '{"role":' + quote(m.role) + ',"content":' + quote(m.content as string) + '}';
  }
  return out;
}

/** CHAT_REQUEST.encode's bytes for a plain request. */
function chatText(ir: IrRequest): string {
  const system = systemText(ir);
  const first = system.length > 0 ? '{"role":"system","content":' + quote(system) + '}' : '';
  let out = '{"model":' + quote(ir.model) + ',"messages":[' + turnsText(ir, first) + ']';
  if (ir.maxTokens !== null) out += ',"max_tokens":' + numberText(ir.maxTokens);
  if (ir.temperature !== undefined) out += ',"temperature":' + jsonText(ir.temperature);
  if (ir.topP !== undefined) out += ',"top_p":' + jsonText(ir.topP);
  if (ir.stop !== null) out += ',"stop":' + jsonText(ir.stop);
  if (ir.stream !== undefined) out += ',"stream":' + jsonText(ir.stream);
  if (ir.user !== null) out += ',"user":' + quote(ir.user);
  if (ir.parallelToolCalls !== null) out += ',"parallel_tool_calls":' + String(ir.parallelToolCalls);
  return out + '}';
}

/** ANTHROPIC_REQUEST.encode's bytes for a plain request. */
function anthropicText(ir: IrRequest): string {
  const system = systemText(ir);
  let out = '{"model":' + quote(ir.model);
  if (system.length > 0) out += ',"system":' + quote(system);
  out += ',"messages":[' + turnsText(ir, '') + '],"max_tokens":'
    + numberText(ir.maxTokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS);
  if (ir.temperature !== undefined && ir.temperature !== null) out += ',"temperature":' + jsonText(ir.temperature);
  if (ir.topP !== undefined && ir.topP !== null) out += ',"top_p":' + jsonText(ir.topP);
  if (ir.stop !== null) out += ',"stop_sequences":' + jsonText(ir.stop);
  if (ir.stream !== undefined && ir.stream !== null) out += ',"stream":' + jsonText(ir.stream);
  if (ir.user !== null) out += ',"metadata":{"user_id":' + quote(ir.user) + '}';
  return out + '}';
}
