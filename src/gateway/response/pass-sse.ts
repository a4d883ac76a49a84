import { readUsageFromEvent } from '../sse/convert.js';
import { parseSseEvent, SseSplitter, type SseEvent, type SseEventSink } from '../sse/splitter.js';
import type { ResponseSink, SinkHost, SinkKind, UpstreamAnswer } from './sink.js';
import { mentionsGeminiUsage, mentionsUsage } from './usage.js';

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
  /** The usage-only chunk the client did not ask for, as a range of the events being passed on (-1: none). */
  dropStart = -1;
  dropEnd = -1;
  /** A Gemini stream: usage is in `usageMetadata`, not `usage`. */
  readonly gemini: boolean;

  constructor(host: SinkHost, answer: UpstreamAnswer) {
    this.host = host;
    this.answer = answer;
    this.gemini = host.endpoint.dialect === 'gemini-generate';
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
    const host = this.host;
    host.usage.events++;
    if (isErrorEvent(buf, start, end)) this.sseError = true;
    if (this.gemini ? !mentionsGeminiUsage(buf, start, end) : !mentionsUsage(buf, start, end)) return;
    const ev = parseSseEvent(buf, start, end, this.event);
    readUsageFromEvent(ev, host.usage);
    if (host.plan.stripUsage && isUsageOnly(ev.data)) {
      host.usage.events--;
      this.dropStart = start;
      this.dropEnd = afterBlankLine(buf, end);
    }
  }

  /** Events passed to the client (without a usage chunk it did not ask for); redacted after an error event. */
  private pass(events: Buffer): void {
    if (this.dropStart !== -1) {
      const from = this.dropStart;
      const to = this.dropEnd;
      this.dropStart = this.dropEnd = -1;
      if (from > 0) this.pass(events.subarray(0, from));
      if (to < events.length) this.pass(events.subarray(to));
      return;
    }
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

/** An OpenAI chunk with no choices: the usage chunk that include_usage adds. */
function isUsageOnly(data: string): boolean {
  return data.includes('"choices":[]') || data.includes('"choices": []');
}

/** The index past the blank line that ends the event ending at `end` (LF LF, or CRLF CRLF). */
function afterBlankLine(buf: Buffer, end: number): number {
  let i = end;
  if (buf[i] === 0x0a) i++;
  if (buf[i] === 0x0d) i++;
  if (buf[i] === 0x0a) i++;
  return i;
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
