/**
 * The gateway bench's upstream: an OpenAI-compatible server as fast as Node allows (precomputed answers, no JSON
 * parsing), so the proxies in front of it are what is measured. Non-streamed requests get a ~400-byte chat
 * completion; requests with `"stream":true` get `events` SSE events `gapMs` apart. Request bodies are drained.
 * `POST /v1/messages` answers the same in Anthropic's Messages shape (for the converted chat → messages path).
 * Usage: node llm-upstream-server.js --port N [--events 20] [--gap-ms 5]
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { COMPLETION_JSON } from './answers.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
}

const port = Number(flag('--port', '0'));
const events = Number(flag('--events', '20'));
const gapMs = Number(flag('--gap-ms', '5'));

const COMPLETION = Buffer.from(COMPLETION_JSON);
const EVENT = Buffer.from(`data: ${JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'gpt-4o-mini',
  choices: [{ index: 0, delta: { content: 'token ' }, finish_reason: null }],
})}\n\n`);
const LAST = Buffer.from(`data: ${JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'gpt-4o-mini', choices: [],
  usage: { prompt_tokens: 42, completion_tokens: events, total_tokens: 42 + events },
})}\n\ndata: [DONE]\n\n`);
const MESSAGE = Buffer.from(JSON.stringify({
  id: 'msg_bench', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5',
  content: [{ type: 'text', text: 'Hello! This is a short benchmark answer from the upstream.' }],
  stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 42, output_tokens: 12 },
}));
function anthropicEvent(name: string, body: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(body)}\n\n`;
}
const A_FIRST = Buffer.from(anthropicEvent('message_start', {
  type: 'message_start',
  message: {
    id: 'msg_bench', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [], stop_reason: null,
    stop_sequence: null, usage: { input_tokens: 42, output_tokens: 1 },
  },
}) + anthropicEvent('content_block_start', {
  type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' },
}));
const A_EVENT = Buffer.from(anthropicEvent('content_block_delta', {
  type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'token ' },
}));
const A_LAST = Buffer.from(anthropicEvent('content_block_stop', { type: 'content_block_stop', index: 0 })
  + anthropicEvent('message_delta', {
    type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: events },
  }) + anthropicEvent('message_stop', { type: 'message_stop' }));
const A_JSON_HEADERS = { 'content-type': 'application/json', 'content-length': String(MESSAGE.length) };
const STREAM_FLAG = Buffer.from('"stream":true');
const JSON_HEADERS = { 'content-type': 'application/json', 'content-length': String(COMPLETION.length) };
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };

class Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  chunks: Buffer[] = [];
  sent = 0;
  /** An Anthropic Messages request (`/v1/messages`). */
  readonly anthropic: boolean;
  constructor(req: IncomingMessage, res: ServerResponse) {
    this.req = req;
    this.res = res;
    this.anthropic = (req.url ?? '').startsWith('/v1/messages');
  }
}

function sendEvent(x: Exchange): void {
  if (x.res.destroyed) return;
  if (x.sent === events) {
    x.res.end(x.anthropic ? A_LAST : LAST);
    return;
  }
  x.sent++;
  x.res.write(x.anthropic ? A_EVENT : EVENT);
  setTimeout(sendEvent, gapMs, x);
}

function onEnd(x: Exchange): void {
  // Only the start of the body is looked at: where clients put `"stream":true` in these benches.
  const head = x.chunks.length > 0 ? x.chunks[0]! : Buffer.alloc(0);
  if (head.subarray(0, 512).indexOf(STREAM_FLAG) !== -1) {
    x.res.writeHead(200, SSE_HEADERS);
    x.res.flushHeaders();
    x.sent = 1;
    x.res.write(x.anthropic ? Buffer.concat([A_FIRST, A_EVENT]) : EVENT);
    setTimeout(sendEvent, gapMs, x);
    return;
  }
  x.res.writeHead(200, x.anthropic ? A_JSON_HEADERS : JSON_HEADERS);
  x.res.end(x.anthropic ? MESSAGE : COMPLETION);
}

const server = createServer(function benchUpstream(req, res) {
  const x = new Exchange(req, res);
  req.on('data', function upstreamBodyChunk(c: Buffer) {
    if (x.chunks.length === 0) x.chunks.push(c);
  });
  req.on('end', function upstreamBodyEnd() {
    onEnd(x);
  });
});
server.keepAliveTimeout = 60_000;
server.listen({ host: '127.0.0.1', port, backlog: 4096 }, function upstreamListening() {
  process.stdout.write(`llm upstream listening on 127.0.0.1:${port}\n`);
});
process.on('SIGTERM', function upstreamTerm() {
  process.exit(0);
});
