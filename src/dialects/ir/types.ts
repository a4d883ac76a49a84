import { JsonBodyError } from '../../errors.js';
import type { JsonObject, JsonValue } from '../types.js';

/*
 * The intermediate representation every chat-like dialect decodes into and encodes from (2N functions for N
 * dialects, not N² converters). Its message model follows Anthropic's (tool results are parts of a user turn,
 * tool calls and thinking are parts of an assistant turn) because that model is the strictest of the three:
 * Chat's tool messages and Responses' items map onto it without loss. Same-dialect traffic never comes here.
 */

export type IrRole = 'user' | 'assistant';

export interface IrText { readonly type: 'text'; readonly text: string; readonly cache: JsonObject | null }
/** An image by URL, or inline (base64 `data` with its media type). */
export interface IrImage {
  readonly type: 'image'; readonly url: string | null; readonly mediaType: string | null; readonly data: string | null;
}
export interface IrToolCall {
  readonly type: 'tool_call'; readonly id: string; readonly name: string; readonly input: JsonObject;
}
/**
 * A tool's result: its text, and the images it returned (Anthropic image blocks, Responses `input_image` outputs,
 * Gemini `functionResponse.parts`). `imagesAt` is the client body path of the first image, for the 400 of a target
 * whose tool results are text only.
 */
export interface IrToolResult {
  readonly type: 'tool_result'; readonly id: string; readonly content: string; readonly isError: boolean;
  readonly images: readonly IrImage[]; readonly imagesAt: string | null;
}

/** A tool result with text only. */
export function textToolResult(id: string, content: string, isError: boolean): IrToolResult {
  return { type: 'tool_result', id, content, isError, images: NO_IMAGES, imagesAt: null };
}

const NO_IMAGES: readonly IrImage[] = [];

/** A data URL (`data:image/png;base64,…`) or a plain URL as an IR image. */
export function imageFromUrl(url: string): IrImage {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (m) return { type: 'image', url: null, mediaType: m[1]!, data: m[2]! };
  return { type: 'image', url, mediaType: null, data: null };
}

/** The 400 for a tool result with images on a target whose tool results are text only. */
export function toolImagesRefused(p: IrToolResult, target: string): JsonBodyError {
  const at = p.imagesAt ?? '$';
  return new JsonBodyError('unsupported', at, null, `${at}: a tool result's image has no counterpart on ${target} `
    + '(its tool results are text); send it to a channel of the client\'s own kind, an Anthropic or a Gemini channel');
}
/** Model reasoning: Anthropic thinking (with its signature), Chat `reasoning_content`, Responses reasoning items. */
export interface IrThinking { readonly type: 'thinking'; readonly text: string; readonly signature: string | null }
/** A part the source dialect has and the IR does not model: kept as is, refused by targets that cannot take it. */
export interface IrOther { readonly type: 'other'; readonly value: JsonObject; readonly path: string }

/** The 400 for a part of the client's dialect that the channel's has no counterpart for (never a silent drop). */
export function noCounterpart(p: IrOther, target: string): JsonBodyError {
  const type = typeof p.value.type === 'string' ? `"${p.value.type}" ` : '';
  return new JsonBodyError('unsupported', p.path, null, `${p.path}: a ${type}part has no counterpart on ${target}`);
}

/** Anthropic's redacted thinking: reasoning, left out like thinking where the target cannot take it back. */
export function isRedactedThinking(p: IrOther): boolean {
  return p.value.type === 'redacted_thinking';
}

export type IrPart = IrText | IrImage | IrToolCall | IrToolResult | IrThinking | IrOther;

export interface IrMessage {
  readonly role: IrRole;
  /** A plain string stays a string where the target allows it (so canonical bodies round-trip exactly). */
  readonly content: string | IrPart[];
}

export interface IrTool {
  readonly name: string; readonly description: string | null; readonly schema: JsonObject | null;
}

export type IrToolChoice =
  | { readonly type: 'auto' | 'any' | 'none'; readonly name: null }
  | { readonly type: 'tool'; readonly name: string };

/** How much the model may reason: an effort (`low`…) from OpenAI dialects, or a token budget from Anthropic. */
export interface IrReasoning { readonly effort: string | null; readonly budget: number | null }

export interface IrRequest {
  model: string;
  /** System/developer prompt segments, in order. */
  system: string[];
  messages: IrMessage[];
  maxTokens: number | null;
  temperature: JsonValue | undefined;
  topP: JsonValue | undefined;
  stop: JsonValue[] | null;
  stream: JsonValue | undefined;
  user: string | null;
  tools: IrTool[] | null;
  toolChoice: IrToolChoice | null;
  parallelToolCalls: boolean | null;
  reasoning: IrReasoning | null;
  /** Chat's response_format shape (`{type: "json_schema", json_schema: {...}}`), and where the client said it. */
  responseFormat: { readonly format: JsonObject; readonly path: string } | null;
}

export function emptyRequest(model: string): IrRequest {
  return {
    model, system: [], messages: [], maxTokens: null, temperature: undefined, topP: undefined, stop: null,
    stream: undefined, user: null, tools: null, toolChoice: null, parallelToolCalls: null, reasoning: null,
    responseFormat: null,
  };
}

/** Why generation stopped, in Anthropic's names (the most specific set). */
export type IrStop = 'end_turn' | 'stop_sequence' | 'max_tokens' | 'tool_use' | 'refusal' | 'pause_turn';

export interface IrUsage {
  readonly input: number; readonly output: number; readonly cacheRead: number; readonly cacheWrite: number;
}

export interface IrResponse {
  readonly id: string;
  readonly model: string;
  /** Unix seconds, when the source says. */
  readonly created: number | null;
  readonly content: IrPart[];
  readonly stop: IrStop;
  readonly stopSequence: string | null;
  readonly usage: IrUsage;
}

export interface IrError { readonly type: string; readonly message: string }

/** Parsed-and-validated root in, IR out; IR in, JSON value out. */
export interface RequestCodec {
  decode(root: JsonObject): IrRequest;
  encode(ir: IrRequest): JsonObject;
}

export interface ResponseCodec {
  isError(root: JsonObject): boolean;
  decodeError(root: JsonObject): IrError;
  encodeError(err: IrError): JsonObject;
  decode(root: JsonObject): IrResponse;
  /** The answer as JSON text (written directly where that is the hot path). */
  encode(ir: IrResponse): string;
}

export const STOP_TO_FINISH: Readonly<Record<string, string>> = {
  end_turn: 'stop', stop_sequence: 'stop', max_tokens: 'length', tool_use: 'tool_calls', refusal: 'content_filter',
  pause_turn: 'stop',
};
export const FINISH_TO_STOP: Readonly<Record<string, IrStop>> = {
  stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', function_call: 'tool_use', content_filter: 'refusal',
};

/** Text of a string or of the text parts of a list, joined by blank lines. */
export function textOf(content: JsonValue | undefined): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const part of content) {
    if (typeof part === 'object' && part !== null && !Array.isArray(part) && typeof part.text === 'string'
      && (part.type === 'text' || part.type === 'input_text' || part.type === 'output_text')) {
      out += out ? `\n\n${part.text}` : part.text;
    }
  }
  return out;
}
