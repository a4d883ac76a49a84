import { UpstreamStreamError } from '../../errors.js';
import type { Dialect } from '../../dialects/types.js';
import { streamConverter, type StreamConverter } from '../sse/convert.js';
import { parseSseEvent, SseSplitter, type SseEvent, type SseEventSink } from '../sse/splitter.js';
import type { ResponseSink, SinkHost, SinkKind, UpstreamAnswer } from './sink.js';

/** An event stream in the other chat dialect: converted event by event (events are small, inline). */
export class ConvertSseSink implements ResponseSink, SseEventSink {
  readonly streams = true;
  readonly sse = true;
  readonly host: SinkHost;
  readonly answer: UpstreamAnswer;
  readonly splitter = new SseSplitter();
  /** Reused by every parsed event of this answer. */
  readonly event: SseEvent = { event: '', data: '' };
  readonly converter: StreamConverter;
  /** The converted text of the chunk being split: written once per upstream chunk, not once per event. */
  pending = '';

  constructor(host: SinkHost, answer: UpstreamAnswer, upstream: Dialect, model: string) {
    this.host = host;
    this.answer = answer;
    this.converter = streamConverter(upstream, host.endpoint.dialect!, model);
  }

  onFirstByte(): void {
    this.host.commit(-1, 'text/event-stream; charset=utf-8', true);
  }

  onData(chunk: Buffer): void {
    this.splitter.feed(chunk, this);
    this.flush();
  }

  private flush(): void {
    const out = this.pending;
    if (out.length === 0) return;
    this.pending = '';
    this.host.write(out);
  }

  /** SseEventSink: one complete upstream event. */
  onSseEvent(buf: Buffer, start: number, end: number): void {
    const converter = this.converter;
    this.host.usage.events++;
    let out = converter.onEvent(parseSseEvent(buf, start, end, this.event), this.host.usage);
    if (out.length === 0) return;
    // The upstream's in-stream error event is quoted: without the channel's secrets.
    if (converter.failed) out = this.answer.redact(out);
    this.pending += out;
  }

  onEnd(): void {
    const host = this.host;
    this.splitter.end(this);
    this.flush();
    const tail = this.converter.end(host.usage);
    if (tail === null) {
      const name = this.answer.channel.name;
      host.streamFailed(new UpstreamStreamError(`channel "${name}" ended its stream before the final event`));
      return;
    }
    if (tail.length > 0) host.write(tail);
    host.end(null);
    host.done(this.converter.failed ? new UpstreamStreamError('upstream sent an error event') : null);
  }
}

export const CONVERT_SSE: SinkKind = {
  matches: function convertSse(_answer, convert, sse) {
    return convert && sse;
  },
  create: function convertSseSink(host, answer, upstream, model) {
    return new ConvertSseSink(host, answer, upstream, model);
  },
};
