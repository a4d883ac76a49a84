/**
 * The gateway bench's upstream: an OpenAI-compatible server as fast as Node allows (precomputed answers, no JSON
 * parsing), so the proxies in front of it are what is measured. Non-streamed requests get a ~400-byte chat
 * completion; requests with `"stream":true` get `events` SSE events `gapMs` apart. Request bodies are drained.
 * Usage: node llm-upstream-server.js --port N [--events 20] [--gap-ms 5]
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
}

const port = Number(flag('--port', '0'));
const events = Number(flag('--events', '20'));
const gapMs = Number(flag('--gap-ms', '5'));

const COMPLETION = Buffer.from(JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion', created: 1700000000, model: 'gpt-4o-mini',
  choices: [{
    index: 0, message: { role: 'assistant', content: 'Hello! This is a short benchmark answer from the upstream.' },
    logprobs: null, finish_reason: 'stop',
  }],
  usage: { prompt_tokens: 42, completion_tokens: 12, total_tokens: 54 },
}));
const EVENT = Buffer.from(`data: ${JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'gpt-4o-mini',
  choices: [{ index: 0, delta: { content: 'token ' }, finish_reason: null }],
})}\n\n`);
const LAST = Buffer.from(`data: ${JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'gpt-4o-mini', choices: [],
  usage: { prompt_tokens: 42, completion_tokens: events, total_tokens: 42 + events },
})}\n\ndata: [DONE]\n\n`);
const STREAM_FLAG = Buffer.from('"stream":true');
const JSON_HEADERS = { 'content-type': 'application/json', 'content-length': String(COMPLETION.length) };
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };

class Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  chunks: Buffer[] = [];
  sent = 0;
  constructor(req: IncomingMessage, res: ServerResponse) {
    this.req = req;
    this.res = res;
  }
}

function sendEvent(x: Exchange): void {
  if (x.res.destroyed) return;
  if (x.sent === events) {
    x.res.end(LAST);
    return;
  }
  x.sent++;
  x.res.write(EVENT);
  setTimeout(sendEvent, gapMs, x);
}

function onEnd(x: Exchange): void {
  // Only the start of the body is looked at: where clients put `"stream":true` in these benches.
  const head = x.chunks.length > 0 ? x.chunks[0]! : Buffer.alloc(0);
  if (head.subarray(0, 512).indexOf(STREAM_FLAG) !== -1) {
    x.res.writeHead(200, SSE_HEADERS);
    x.res.flushHeaders();
    x.sent = 1;
    x.res.write(EVENT);
    setTimeout(sendEvent, gapMs, x);
    return;
  }
  x.res.writeHead(200, JSON_HEADERS);
  x.res.end(COMPLETION);
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
