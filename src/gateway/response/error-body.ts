import { BadRequestBodyError, type GatewayError } from '../../errors.js';
import type { Family } from '../routing/endpoints.js';

/**
 * Error bodies and stream error events in the dialect of the endpoint:
 * OpenAI `{error: {type, code, message}}`, Anthropic `{type: "error", error: {type, message}}` (plus `code`).
 * Codes are the stable `TG_ERR_*` codes.
 */
export function errorBody(family: Family, err: GatewayError): string {
  const message = JSON.stringify(err.message);
  if (family === 'gemini') return geminiError(err.status, message, `,"reason":"${err.code}"${extraFields(err)}`);
  if (family === 'anthropic') {
    return `{"type":"error","error":{"type":"${err.type}","code":"${err.code}",`
      + `"message":${message}${extraFields(err)}}}`;
  }
  return `{"error":{"type":"${err.type}","code":"${err.code}","message":${message}${extraFields(err)}}}`;
}

/** Google's status names for HTTP statuses (google.rpc.Code). */
function googleStatus(status: number): string {
  switch (status) {
    case 400: case 413: return 'INVALID_ARGUMENT';
    case 401: return 'UNAUTHENTICATED';
    case 403: return 'PERMISSION_DENIED';
    case 404: return 'NOT_FOUND';
    case 408: case 504: return 'DEADLINE_EXCEEDED';
    case 429: return 'RESOURCE_EXHAUSTED';
    case 503: return 'UNAVAILABLE';
    default: return status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION';
  }
}

/** Gemini's error body: `{error: {code, message, status}}`; `extra` adds fields (ours: the TG_ERR_ code). */
function geminiError(status: number, message: string, extra: string): string {
  return `{"error":{"code":${status},"message":${message},"status":"${googleStatus(status)}"${extra}}}`;
}

function extraFields(err: GatewayError): string {
  if (!(err instanceof BadRequestBodyError)) return '';
  return `,"param":${JSON.stringify(err.path)},"position":${err.position === null ? 'null' : err.position}`;
}

/** The SSE event that ends a stream which failed after its first byte; never a silent clean end. */
export function errorEvent(family: Family, err: GatewayError): string {
  if (family === 'anthropic') return `event: error\ndata: ${errorBody(family, err)}\n\n`;
  if (family === 'responses') {
    // The Responses stream's error event: type, code, message, param at the top level.
    const param = err instanceof BadRequestBodyError ? JSON.stringify(err.path) : 'null';
    const message = JSON.stringify(err.message);
    return `event: error\ndata: {"type":"error","code":"${err.code}","message":${message},"param":${param}}\n\n`;
  }
  return `data: ${errorBody(family, err)}\n\n`;
}

/**
 * Rewrites an upstream error body (non-2xx) from one family to the other, so a converted route still answers in
 * its own dialect. Error bodies are small; anything that is not a JSON error becomes the message text.
 */
export function convertErrorBody(from: Family, to: Family, body: Buffer, status: number): string {
  let type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'api_error' : 'invalid_request_error';
  let message = body.toString('utf8').slice(0, 2000);
  let code: string | null = null;
  try {
    const parsed = JSON.parse(message) as { error?: { type?: unknown; message?: unknown; code?: unknown } };
    const e = parsed.error;
    if (e && typeof e === 'object') {
      if (typeof e.type === 'string') type = e.type;
      if (typeof e.message === 'string') message = e.message;
      if (typeof e.code === 'string') code = e.code;
    }
  } catch {
    /* not JSON: the text is the message */
  }
  const m = JSON.stringify(message);
  if (to === 'gemini') return geminiError(status, m, '');
  if (to === 'anthropic') return `{"type":"error","error":{"type":${JSON.stringify(type)},"message":${m}}}`;
  void from;
  return `{"error":{"type":${JSON.stringify(type)},"code":${code === null ? 'null' : JSON.stringify(code)},`
    + `"message":${m}}}`;
}

/** The message of an upstream error body (`error.message` in every dialect's shape), else its text, cut short. */
export function upstreamErrorMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    const m = parsed.error?.message;
    if (typeof m === 'string') return m;
  } catch {
    /* not JSON: the text is the message */
  }
  return text.slice(0, 500);
}
