import type { Dialect } from '../../dialects/types.js';
import { CONVERT_JSON } from './convert-json.js';
import { CONVERT_SSE } from './convert-sse.js';
import { PASS_JSON } from './pass-json.js';
import { PASS_SSE } from './pass-sse.js';
import type { ResponseSink, SinkHost, SinkKind, UpstreamAnswer } from './sink.js';
import { OPEN_STREAM_ERROR } from './open-stream-error.js';
import { UPSTREAM_ERROR } from './upstream-error.js';

/** Every response path, tried in order; the first that matches serves the answer. */
const KINDS: readonly SinkKind[] = [OPEN_STREAM_ERROR, UPSTREAM_ERROR, PASS_JSON, PASS_SSE, CONVERT_SSE, CONVERT_JSON];

/**
 * The sink for an upstream answer to pass on, picked once when its status and headers arrive; `opened`: a keep-alive
 * already sent the client an event stream's headers.
 */
export function chooseSink(
  host: SinkHost, answer: UpstreamAnswer, upstream: Dialect, model: string, opened: boolean,
): ResponseSink {
  const convert = upstream !== host.endpoint.dialect;
  const sse = answer.contentType.includes('text/event-stream');
  for (let i = 0; i < KINDS.length; i++) {
    const kind = KINDS[i]!;
    if (kind.matches(answer, convert, sse, opened)) return kind.create(host, answer, upstream, model);
  }
  throw new Error(`no response path for status ${answer.status} (${answer.contentType || 'no content-type'})`);
}
