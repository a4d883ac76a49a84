/** Receives complete SSE events as byte ranges of a Buffer (valid only during the call). */
export interface SseEventSink {
  onSseEvent(buf: Buffer, start: number, end: number): void;
}

const LF = 0x0a;
const CR = 0x0d;

const EMPTY = Buffer.alloc(0);

/**
 * Splits an SSE byte stream into events (separated by a blank line: LF LF or CRLF CRLF) without copying complete
 * events: each is handed out as a range of the chunk it arrived in. Only an incomplete tail is carried over to the
 * next chunk (one small copy); a stream is never concatenated.
 */
export class SseSplitter {
  private carry: Buffer | null = null;

  /**
   * Hands out the complete events now in the stream and returns their bytes (with their blank lines): the chunk
   * itself when it ends on an event boundary (the usual case), else the part of the carried tail and chunk that does.
   */
  feed(chunk: Buffer, sink: SseEventSink): Buffer {
    let buf = chunk;
    if (this.carry !== null) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    let start = 0;
    let i = buf.indexOf(LF);
    while (i !== -1) {
      const next = buf[i + 1];
      if (next === LF) {
        sink.onSseEvent(buf, start, i);
        start = i + 2;
        i = buf.indexOf(LF, start);
      } else if (next === CR && buf[i + 2] === LF) {
        sink.onSseEvent(buf, start, i);
        start = i + 3;
        i = buf.indexOf(LF, start);
      } else i = buf.indexOf(LF, i + 1);
    }
    if (start === buf.length) return buf;
    this.carry = Buffer.from(buf.subarray(start));
    return start === 0 ? EMPTY : buf.subarray(0, start);
  }

  /** Whatever is left when the stream ends without a final blank line is a last event; returns its bytes. */
  end(sink: SseEventSink): Buffer {
    if (this.carry !== null && this.carry.length > 0) {
      const c = this.carry;
      this.carry = null;
      let end = c.length;
      while (end > 0 && (c[end - 1] === LF || c[end - 1] === CR)) end--;
      if (end > 0) sink.onSseEvent(c, 0, end);
      return c;
    }
    return EMPTY;
  }
}

/** One parsed SSE event: its `event:` name (or '') and its `data:` lines joined by LF. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Parses the event in buf[start, end) (small: only called for events that are read, not passed through). Lines are
 * read where they stand in the decoded text: only the field values are sliced out.
 */
export function parseSseEvent(buf: Buffer, start: number, end: number, out: SseEvent): SseEvent {
  const text = buf.toString('utf8', start, end);
  const n = text.length;
  out.event = '';
  out.data = '';
  let first = true;
  let pos = 0;
  while (pos <= n) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) nl = n;
    // One CR before the LF belongs to the line ending.
    const lineEnd = nl > pos && text.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
    if (text.startsWith('data:', pos) && lineEnd >= pos + 5) {
      const from = text.charCodeAt(pos + 5) === 0x20 ? pos + 6 : pos + 5;
      const v = from >= lineEnd ? '' : text.slice(from, lineEnd);
      out.data = first ? v : out.data + '\n' + v;
      first = false;
    } else if (text.startsWith('event:', pos) && lineEnd >= pos + 6) {
      const from = text.charCodeAt(pos + 6) === 0x20 ? pos + 7 : pos + 6;
      out.event = from >= lineEnd ? '' : text.slice(from, lineEnd).trim();
    }
    if (nl === n) break;
    pos = nl + 1;
  }
  return out;
}
