import { JsonBodyError } from '../../errors.js';
import { isObject, stringOr } from '../shape.js';
import type { JsonObject, JsonValue } from '../types.js';
import { emptyRequest, type IrPart, type IrRequest, type IrResponse, type IrStop } from './types.js';

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

/** Gemini parts → IR parts; function calls get ids (Gemini's are optional) that their responses find by name. */
function partToIr(p: JsonObject, path: string, calls: Map<string, string>, n: { calls: number }): IrPart {
  if (typeof p.text === 'string') {
    if (p.thought === true) return { type: 'thinking', text: p.text, signature: stringOr(p.thoughtSignature, null) };
    return { type: 'text', text: p.text, cache: null };
  }
  if (isObject(p.inlineData)) {
    const inline = p.inlineData;
    return { type: 'image', url: null, mediaType: stringOr(inline.mimeType, ''), data: stringOr(inline.data, '') };
  }
  if (isObject(p.fileData) && typeof p.fileData.fileUri === 'string') {
    return { type: 'image', url: p.fileData.fileUri, mediaType: null, data: null };
  }
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
    return { type: 'tool_result', id, content: JSON.stringify(response), isError: false };
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

export function usageMetadata(prompt: number, output: number, cached: number): JsonObject {
  const u: JsonObject = { promptTokenCount: prompt, candidatesTokenCount: output, totalTokenCount: prompt + output };
  if (cached > 0) u.cachedContentTokenCount = cached;
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

