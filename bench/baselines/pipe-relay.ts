/**
 * Baseline: the plain Node relay everyone writes first — accept, connect, `socket.pipe()` both ways.
 * Usage: node pipe-relay.js --forward 127.0.0.1:LISTEN=127.0.0.1:TARGET [--forward ...]
 */
import { createServer, connect, type Socket } from 'node:net';
import { flagValues, parseHostPort } from '../lib/args.js';

function relayConnection(client: Socket, target: { host: string; port: number }): void {
  const upstream = connect({ host: target.host, port: target.port, noDelay: true });
  client.setNoDelay(true);
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', function onClientError() {
    upstream.destroy();
  });
  upstream.on('error', function onUpstreamError() {
    client.destroy();
  });
}

function listenForward(spec: string): void {
  const eq = spec.indexOf('=');
  if (eq < 0) throw new Error(`--forward expects LISTEN=TARGET, got "${spec}"`);
  const listen = parseHostPort(spec.slice(0, eq));
  const target = parseHostPort(spec.slice(eq + 1));
  const server = createServer(function onPipeRelayConnection(client) {
    relayConnection(client, target);
  });
  server.listen({ host: listen.host, port: listen.port, backlog: 4096 });
}

function main(): void {
  const forwards = flagValues(process.argv, '--forward');
  if (forwards.length === 0) throw new Error('at least one --forward LISTEN=TARGET is required');
  for (const spec of forwards) listenForward(spec);
  process.on('SIGTERM', function onTerm() {
    process.exit(0);
  });
}

main();
