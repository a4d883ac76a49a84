/**
 * Dialects: pure functions over request/response Buffers (no I/O), used inline for small bodies and in the pool's
 * workers for large ones (tasks.ts, offload.ts). Every failure is a JsonBodyError carrying a JSON path or byte
 * position.
 */
export type { ChatDialect, Dialect, JsonObject, JsonValue, RequestSummary } from './types.js';
export { DIALECTS } from './types.js';
export { decodeJsonBody, encodeJsonBody } from './decode.js';
export { summarizeRequest } from './summarize.js';
export { convertRequestBody, decodeRequestBody, DEFAULT_ANTHROPIC_MAX_TOKENS } from './convert-request.js';
export { convertResponseBody } from './convert-response.js';
export type * from './ir/types.js';
