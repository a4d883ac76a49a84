import type { Dialect } from '../dialects/types.js';

const STREAM_OPTIONS_KEY = Buffer.from('"stream_options"');
const HEAD = Buffer.from('{"stream_options":{"include_usage":true},');

/**
 * OpenAI streams state their usage only when asked (`stream_options.include_usage`): the gateway always asks, so a
 * stream is booked exactly whether or not its client asked. Returns the body to send and whether the client did not
 * ask (then the usage-only final chunk is taken out of the stream it sees, see PassSseSink).
 */
export function streamAsksUsage(dialect: Dialect, stream: boolean): boolean {
  return stream && (dialect === 'openai-chat' || dialect === 'openai-completions');
}

/**
 * `body` with `stream_options.include_usage: true`, or null when the client asked already. The usual body has no
 * `stream_options`: the option goes right after the opening brace, one copy, no parse (a later key of the same name
 * cannot exist). A body with its own `stream_options` is parsed and written again (rare).
 */
export function withUsageAsked(body: Buffer): Buffer | null {
  if (body.indexOf(STREAM_OPTIONS_KEY) === -1) {
    const open = body.indexOf(0x7b);
    if (open === -1) return null;
    let next = open + 1;
    while (next < body.length && (body[next] === 0x20 || body[next] === 0x0a || body[next] === 0x0d ||
      body[next] === 0x09)) {
      next++;
    }
    // `{}`: no comma after the option.
    const head = body[next] === 0x7d ? HEAD.subarray(0, HEAD.length - 1) : HEAD;
    return Buffer.concat([body.subarray(0, open), head, body.subarray(open + 1)]);
  }
  let parsed: { stream_options?: unknown };
  try {
    parsed = JSON.parse(body.toString('utf8')) as { stream_options?: unknown };
  } catch {
    return null;
  }
  const so = parsed.stream_options;
  if (so !== null && typeof so === 'object' && (so as { include_usage?: unknown }).include_usage === true) return null;
  parsed.stream_options = { ...(so !== null && typeof so === 'object' ? so : {}), include_usage: true };
  return Buffer.from(JSON.stringify(parsed));
}
