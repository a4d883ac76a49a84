import { JsonBodyError } from '../../errors.js';
import { jsonText } from '../decode.js';
import { isObject, stringOr } from '../shape.js';
import type { JsonObject, JsonValue } from '../types.js';
import { budgetOf } from './reasoning.js';
import {
  emptyRequest, isRedactedThinking, noCounterpart, type IrImage, type IrPart, type IrRequest, type IrResponse,
  type IrStop,
  type ResponseCodec,
} from './types.js';

/**
 * Gemini generateContent → IR (requests) and IR → Gemini (answers), for Gemini clients on channels of other
 * kinds. The model and streaming are in Gemini's URL, not its body: the caller sets them on the IR.
 */

function unsupported(path: string, why: string): JsonBodyError {
  return new JsonBodyError('unsupported', path, null, `${path}: ${why}`);
}

function shape(path: string, why: string): JsonBodyError {
  return new JsonBodyError('shape', path, null, `${path}: ${why}`);
}

function partsOf(content: JsonValue | undefined, path: string): JsonObject[] {
  if (!isObject(content) || !Array.isArray(content.parts)) throw shape(path, 'expected a content with parts[]');
  const parts = content.parts;
  for (let k = 0; k < parts.length; k++) {
    if (!isObject(parts[k])) throw shape(`${path}.parts[${k}]`, 'expected an object');
  }
  return parts as JsonObject[];
}

/** An inlineData or fileData part (of a content or of a function response) as an image; null for others. */
function mediaToIr(p: JsonObject): IrImage | null {
  if (isObject(p.inlineData)) {
    const inline = p.inlineData;
    return { type: 'image', url: null, mediaType: stringOr(inline.mimeType, ''), data: stringOr(inline.data, '') };
  }
  if (isObject(p.fileData) && typeof p.fileData.fileUri === 'string') {
    return { type: 'image', url: p.fileData.fileUri, mediaType: null, data: null };
  }
  return null;
}

/** Gemini parts → IR parts; function calls get ids (Gemini's are optional) that their responses find by name. */
function partToIr(p: JsonObject, path: string, calls: Map<string, string>, n: { calls: number }): IrPart {
  if (typeof p.text === 'string') {
    if (p.thought === true) return { type: 'thinking', text: p.text, signature: stringOr(p.thoughtSignature, null) };
    return { type: 'text', text: p.text, cache: null };
  }
  const media = mediaToIr(p);
  if (media !== null) return media;
  if (isObject(p.functionCall)) {
    const name = stringOr(p.functionCall.name, '');
    const id = stringOr(p.functionCall.id, null) ?? `call_${name}_${n.calls++}`;
    calls.set(name, id);
    const input = isObject(p.functionCall.args) ? p.functionCall.args : {};
    return { type: 'tool_call', id, name, input };
  }
  if (isObject(p.functionResponse)) {
    const name = stringOr(p.functionResponse.name, '');
    const id = stringOr(p.functionResponse.id, null) ?? calls.get(name) ?? name;
    const response = p.functionResponse.response ?? {};
    const images: IrImage[] = [];
    let imagesAt: string | null = null;
    const fparts = p.functionResponse.parts;
    if (Array.isArray(fparts)) {
      for (let j = 0; j < fparts.length; j++) {
        const fp = fparts[j];
        const at = `${path}.functionResponse.parts[${j}]`;
        const image = isObject(fp) ? mediaToIr(fp) : null;
        if (image === null) throw unsupported(at, 'a function response part converts only as inlineData or fileData');
        images.push(image);
        imagesAt ??= at;
      }
    }
    return { type: 'tool_result', id, content: JSON.stringify(response), isError: false, images, imagesAt };
  }
  throw unsupported(path, 'this part has no counterpart on the channel (text, inlineData, fileData, functionCall '
    + 'and functionResponse convert)');
}

export function decodeGeminiRequest(root: JsonObject): IrRequest {
  const ir = emptyRequest('');
  if (root.systemInstruction !== undefined) {
    for (const p of partsOf(root.systemInstruction, '$.systemInstruction')) {
      if (typeof p.text === 'string') ir.system.push(p.text);
    }
  }
  const contents = root.contents;
  if (!Array.isArray(contents)) throw shape('$.contents', 'expected an array of contents');
  const calls = new Map<string, string>();
  const n = { calls: 0 };
  for (let i = 0; i < contents.length; i++) {
    const c = contents[i];
    const at = `$.contents[${i}]`;
    const parts = partsOf(c, at).map((p, k) => partToIr(p, `${at}.parts[${k}]`, calls, n));
    const role = (c as JsonObject).role === 'model' ? 'assistant' : 'user';
    ir.messages.push({ role, content: parts });
  }
  const g = isObject(root.generationConfig) ? root.generationConfig : {};
  if (typeof g.maxOutputTokens === 'number') ir.maxTokens = g.maxOutputTokens;
  if (typeof g.temperature === 'number') ir.temperature = g.temperature;
  if (typeof g.topP === 'number') ir.topP = g.topP;
  if (Array.isArray(g.stopSequences)) ir.stop = g.stopSequences;
  if (g.candidateCount !== undefined && g.candidateCount !== 1) {
    throw unsupported('$.generationConfig.candidateCount', 'only one candidate converts');
  }
  const schema = g.responseJsonSchema ?? g.responseSchema;
  if (g.responseMimeType === 'application/json') {
    const format: JsonObject = isObject(schema)
      ? { type: 'json_schema', json_schema: { name: 'response', schema } }
      : { type: 'json_object' };
    ir.responseFormat = { format, path: '$.generationConfig.responseMimeType' };
  }
  const budget = isObject(g.thinkingConfig) ? g.thinkingConfig.thinkingBudget : undefined;
  if (typeof budget === 'number' && budget > 0) {
    ir.reasoning = { effort: null, budget };
  }
  if (Array.isArray(root.tools)) {
    ir.tools = [];
    for (let i = 0; i < root.tools.length; i++) {
      const t = root.tools[i];
      if (!isObject(t) || !Array.isArray(t.functionDeclarations) || Object.keys(t).length !== 1) {
        throw unsupported(`$.tools[${i}]`, 'only functionDeclarations convert (Google Search, code execution and '
          + 'other built-in tools need a Gemini channel)');
      }
      for (const d of t.functionDeclarations) {
        if (!isObject(d)) continue;
        const params = d.parametersJsonSchema ?? d.parameters;
        const schema = isObject(params) ? params : null;
        ir.tools.push({ name: stringOr(d.name, ''), description: stringOr(d.description, null), schema });
      }
    }
  }
  const config = isObject(root.toolConfig) ? root.toolConfig.functionCallingConfig : undefined;
  const fc = isObject(config) ? config : null;
  if (fc !== null) {
    const allowed = Array.isArray(fc.allowedFunctionNames) ? fc.allowedFunctionNames : [];
    if (fc.mode === 'NONE') ir.toolChoice = { type: 'none', name: null };
    else if (fc.mode === 'ANY' && allowed.length === 1 && typeof allowed[0] === 'string') {
      ir.toolChoice = { type: 'tool', name: allowed[0] };
    }
    else if (fc.mode === 'ANY') ir.toolChoice = { type: 'any', name: null };
    else if (fc.mode === 'AUTO') ir.toolChoice = { type: 'auto', name: null };
  }
  return ir;
}

/** A countTokens body: `contents` (and tools…) or a whole `generateContentRequest`. */
export function decodeGeminiCount(root: JsonObject): IrRequest {
  if (isObject(root.generateContentRequest)) return decodeGeminiRequest(root.generateContentRequest);
  return decodeGeminiRequest(root);
}

const FINISH: Readonly<Record<IrStop, string>> = {
  end_turn: 'STOP', stop_sequence: 'STOP', max_tokens: 'MAX_TOKENS', tool_use: 'STOP', refusal: 'SAFETY',
  pause_turn: 'STOP',
};

export function geminiFinish(stop: IrStop): string {
  return FINISH[stop] ?? 'STOP';
}

export function usageMetadata(prompt: number, output: number, cached: number, thoughts = 0): JsonObject {
  const u: JsonObject = {
    promptTokenCount: prompt, candidatesTokenCount: output, totalTokenCount: prompt + output + thoughts,
  };
  if (cached > 0) u.cachedContentTokenCount = cached;
  if (thoughts > 0) u.thoughtsTokenCount = thoughts;
  return u;
}

export function encodeGeminiResponse(ir: IrResponse): JsonObject {
  const parts: JsonValue[] = [];
  for (const p of ir.content) {
    if (p.type === 'text') parts.push({ text: p.text });
    else if (p.type === 'thinking') parts.push({ text: p.text, thought: true });
    else if (p.type === 'tool_call') parts.push({ functionCall: { id: p.id, name: p.name, args: p.input } });
  }
  const u = ir.usage;
  return {
    candidates: [{ content: { role: 'model', parts }, finishReason: geminiFinish(ir.stop), index: 0 }],
    usageMetadata: usageMetadata(u.input + u.cacheRead + u.cacheWrite, u.output, u.cacheRead),
    modelVersion: ir.model,
    responseId: ir.id,
  };
}

/** Tool results need their function's name in Gemini: found by the call's id in earlier turns. */
function callNames(ir: IrRequest): Map<string, string> {
  const names = new Map<string, string>();
  for (const m of ir.messages) {
    if (typeof m.content === 'string') continue;
    for (const p of m.content) if (p.type === 'tool_call') names.set(p.id, p.name);
  }
  return names;
}

function responseObjectOf(content: string): JsonObject {
  try {
    const v = JSON.parse(content) as JsonValue;
    if (isObject(v)) return v;
  } catch {
    // Text, not JSON: wrapped below.
  }
  return { result: content };
}

function mediaOf(p: IrImage): JsonObject {
  if (p.url !== null) return { fileData: { fileUri: p.url } };
  return { inlineData: { mimeType: p.mediaType!, data: p.data! } };
}

function partToGemini(p: IrPart, names: Map<string, string>): JsonObject | null {
  switch (p.type) {
    case 'text': return { text: p.text };
    case 'image': return mediaOf(p);
    case 'tool_call': return { functionCall: { id: p.id, name: p.name, args: p.input } };
    case 'tool_result': {
      const fr: JsonObject = { id: p.id, name: names.get(p.id) ?? p.id, response: responseObjectOf(p.content) };
      if (p.images.length > 0) fr.parts = p.images.map(mediaOf);
      return { functionResponse: fr };
    }
    // Earlier turns' reasoning is not input on Gemini (its thought signatures are its own): left out.
    case 'thinking': return null;
    case 'other':
      if (isRedactedThinking(p)) return null;
      throw noCounterpart(p, 'a Gemini channel');
  }
}

export function encodeGeminiRequest(ir: IrRequest): JsonObject {
  const out: JsonObject = {};
  const system = ir.system.filter((s) => s.length > 0);
  if (system.length > 0) out.systemInstruction = { parts: system.map((text) => ({ text })) };
  const names = callNames(ir);
  out.contents = ir.messages.map(function messageToGemini(m) {
    const role = m.role === 'assistant' ? 'model' : 'user';
    if (typeof m.content === 'string') return { role, parts: [{ text: m.content }] };
    const parts: JsonValue[] = [];
    for (const p of m.content) {
      const part = partToGemini(p, names);
      if (part !== null) parts.push(part);
    }
    return { role, parts };
  });
  const g: JsonObject = {};
  if (ir.maxTokens !== null) g.maxOutputTokens = ir.maxTokens;
  if (ir.temperature !== undefined && ir.temperature !== null) g.temperature = ir.temperature;
  if (ir.topP !== undefined && ir.topP !== null) g.topP = ir.topP;
  if (ir.stop !== null) g.stopSequences = ir.stop;
  if (ir.responseFormat !== null) {
    g.responseMimeType = 'application/json';
    const js = ir.responseFormat.format.json_schema;
    if (isObject(js) && isObject(js.schema)) g.responseJsonSchema = js.schema;
  }
  const budget = ir.reasoning === null ? null : budgetOf(ir.reasoning);
  if (budget !== null) g.thinkingConfig = { thinkingBudget: budget, includeThoughts: true };
  if (Object.keys(g).length > 0) out.generationConfig = g;
  if (ir.tools !== null && ir.tools.length > 0) {
    out.tools = [{
      functionDeclarations: ir.tools.map(function toolToGemini(t) {
        const d: JsonObject = { name: t.name };
        if (t.description !== null) d.description = t.description;
        if (t.schema !== null) d.parametersJsonSchema = t.schema;
        return d;
      }),
    }];
  }
  const choice = ir.toolChoice;
  if (choice !== null) {
    const mode = choice.type === 'auto' ? 'AUTO' : choice.type === 'none' ? 'NONE' : 'ANY';
    const config: JsonObject = { mode };
    if (choice.type === 'tool') config.allowedFunctionNames = [choice.name];
    out.toolConfig = { functionCallingConfig: config };
  }
  return out;
}

/** Gemini's finishReason → the IR's; a turn that called functions stopped for them. */
export function stopOf(finish: string, calledTools: boolean): IrStop {
  if (finish === 'MAX_TOKENS') return 'max_tokens';
  if (finish === 'STOP' || finish === '' || finish === 'FINISH_REASON_UNSPECIFIED') {
    return calledTools ? 'tool_use' : 'end_turn';
  }
  return 'refusal';
}

export function decodeGeminiResponse(root: JsonObject): IrResponse {
  const candidates = root.candidates;
  if (!Array.isArray(candidates) || candidates.length === 0 || !isObject(candidates[0])) {
    throw shape('$.candidates', 'expected at least one candidate');
  }
  const c = candidates[0];
  const parts = isObject(c.content) && Array.isArray(c.content.parts) ? c.content.parts : [];
  const content: IrPart[] = [];
  let calls = 0;
  for (const p of parts) {
    if (!isObject(p)) continue;
    if (typeof p.text === 'string') {
      if (p.thought === true) content.push({ type: 'thinking', text: p.text, signature: null });
      else if (p.text.length > 0) content.push({ type: 'text', text: p.text, cache: null });
    } else if (isObject(p.functionCall)) {
      const name = stringOr(p.functionCall.name, '');
      const id = stringOr(p.functionCall.id, null) ?? `call_${name}_${calls}`;
      calls++;
      content.push({ type: 'tool_call', id, name, input: isObject(p.functionCall.args) ? p.functionCall.args : {} });
    }
  }
  const u = isObject(root.usageMetadata) ? root.usageMetadata : {};
  const cached = num(u.cachedContentTokenCount);
  return {
    id: stringOr(root.responseId, ''),
    model: stringOr(root.modelVersion, ''),
    created: null,
    content,
    stop: stopOf(stringOr(c.finishReason, ''), calls > 0),
    stopSequence: null,
    usage: {
      input: num(u.promptTokenCount) - cached, output: num(u.candidatesTokenCount) + num(u.thoughtsTokenCount),
      cacheRead: cached, cacheWrite: 0,
    },
  };
}

function num(v: JsonValue | undefined): number {
  return typeof v === 'number' ? v : 0;
}

export const GEMINI_RESPONSE: ResponseCodec = {
  isError: function geminiIsError(root) {
    return isObject(root.error);
  },
  decodeError: function geminiError(root) {
    const e = isObject(root.error) ? root.error : {};
    return { type: stringOr(e.status, 'api_error'), message: stringOr(e.message, 'upstream error') };
  },
  encodeError: function geminiErrorBody(err) {
    return { error: { code: 500, message: err.message, status: err.type } };
  },
  decode: decodeGeminiResponse,
  encode: function geminiResponseText(ir) {
    return jsonText(encodeGeminiResponse(ir));
  },
};
