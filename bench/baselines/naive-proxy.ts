/**
 * Baseline: the naive Node LLM proxy — `http` server, read the whole body, JSON.parse it (to route on `model`),
 * forward it with undici, stream the answer back. This is what the gateway is compared with.
 * Usage: node naive-proxy.js --listen 127.0.0.1:PORT --upstream http://127.0.0.1:PORT
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { request } from 'undici';
import { flagValue, parseHostPort } from '../lib/args.js';

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise(function collect(resolve, reject) {
    const chunks: Buffer[] = [];
    req.on('data', function onBodyChunk(chunk: Buffer) {
      chunks.push(chunk);
    });
    req.on('end', function onBodyEnd() {
      resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

async function proxyRequest(upstream: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  let model = 'unknown';
  if (body.length > 0) {
    const parsed = JSON.parse(body.toString('utf8')) as { model?: unknown };
    if (typeof parsed.model === 'string') model = parsed.model;
  }
  const answer = await request(upstream + (req.url ?? '/'), {
    method: (req.method ?? 'POST') as 'POST',
    headers: {
      'content-type': req.headers['content-type'] ?? 'application/json',
      authorization: req.headers.authorization ?? '',
      'x-routed-model': model,
    },
    body,
  });
  const headers: Record<string, string> = {};
  const contentType = answer.headers['content-type'];
  if (typeof contentType === 'string') headers['content-type'] = contentType;
  res.writeHead(answer.statusCode, headers);
  for await (const chunk of answer.body) res.write(chunk as Buffer);
  res.end();
}

function main(): void {
  const listen = parseHostPort(flagValue(process.argv, '--listen') ?? '');
  const upstream = flagValue(process.argv, '--upstream');
  if (upstream === undefined || !/^http:\/\//.test(upstream)) throw new Error('--upstream http://host:port is required');
  const base = upstream.replace(/\/$/, '');
  const server = createServer(function onNaiveProxyRequest(req, res) {
    proxyRequest(base, req, res).catch(function onProxyError(error: Error) {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(error.message);
    });
  });
  server.listen({ host: listen.host, port: listen.port, backlog: 4096 }, function onListening() {
    process.stdout.write(`naive-proxy listening on ${listen.host}:${listen.port}\n`);
  });
  process.on('SIGTERM', function onTerm() {
    process.exit(0);
  });
}

main();
