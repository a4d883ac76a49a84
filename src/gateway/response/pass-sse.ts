import { readUsageFromEvent } from '../sse/convert.js';
import { parseSseEvent, SseSplitter, type SseEvent, type SseEventSink } from '../sse/splitter.js';
import type { ResponseSink, SinkHost, SinkKind, UpstreamAnswer } from './sink.js';
import { mentionsUsage } from './usage.js';

/**
 * An event stream in the endpoint's own dialect: passed on whole events at a time, each looked at first (usage read
 * from the events that mention it; an upstream error event is redacted).
 */
export class PassSseSink implements ResponseSink, SseEventSink {
  readonly streams = true;
  readonly sse = true;
  readonly host: SinkHost;
  readonly answer: UpstreamAnswer;
  readonly splitter = new SseSplitter();
  /** Reused by every parsed event of this answer. */
  readonly event: SseEvent = { event: '', data: '' };
  /** The events being passed on include an upstream error event. */
  sseError = false;

  constructor(host: SinkHost, answer: UpstreamAnswer) {
    this.host = host;
    this.answer = answer;
  }

  onFirstByte(): void {
    this.host.commit(-1, this.answer.contentType, true);
  }

  onData(chunk: Buffer): void {
    const events = this.splitter.feed(chunk, this);
    if (events.length > 0) this.pass(events);
  }

  /** SseEventSink: one complete upstream event. */
  onSseEvent(buf: Buffer, start: number, end: number): void {
    if (isErrorEvent(buf, start, end)) this.sseError = true;
    if (mentionsUsage(buf, start, end)) readUsageFromEvent(parseSseEvent(buf, start, end, this.event), this.host.usage);
  }

  /** Passed-through events to the client; redacted when one of them was an upstream error event. */
  private pass(events: Buffer): void {
    if (!this.sseError) {
      this.host.write(events);
      return;
    }
    this.sseError = false;
    this.host.write(this.answer.redact(events.toString('utf8')));
  }

  onEnd(): void {
    const last = this.splitter.end(this);
    if (last.length > 0) this.pass(last);
    this.host.end(null);
    this.host.done(null);
  }
}

/** How upstreams start an error event: `event: error` (Anthropic, OpenAI Responses), `data: {"error"` (OpenAI Chat). */
const ERROR_EVENT_STARTS = [
  Buffer.from('event: error'), Buffer.from('event:error'), Buffer.from('data: {"error"'), Buffer.from('data:{"error"'),
];

/** Whether the SSE event in buf[start, end) is an error event: a look at its first bytes, no scan. */
function isErrorEvent(buf: Buffer, start: number, end: number): boolean {
  for (let k = 0; k < ERROR_EVENT_STARTS.length; k++) {
    const p = ERROR_EVENT_STARTS[k]!;
    if (end - start < p.length) continue;
    let i = 0;
    while (i < p.length && buf[start + i] === p[i]) i++;
    if (i === p.length) return true;
  }
  return false;
}

export const PASS_SSE: SinkKind = {
  matches: function passSse(_answer, convert, sse) {
    return !convert && sse;
  },
  create: function passSseSink(host, answer) {
    return new PassSseSink(host, answer);
  },
};
