import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sink, startSource, stopSource, startChurnServer, runChurn } from '../../bench/lib/load.js';
import { startPipeRelay } from '../../bench/lib/baselines.js';
import { startStreamLoad } from '../../bench/lib/stream-load.js';
import { hasCommand } from '../../bench/lib/process.js';
import { cpuSecondsOf } from '../../bench/lib/cpu.js';
import { startTidegate } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

test('the source streams bytes through the pipe-relay baseline into the sink', async () => {
  const sink = await Sink.start();
  const relay = await startPipeRelay([sink.port]);
  try {
    const source = await startSource(relay.ports[0] as number, 3, 64 * 1024);
    const bytes = await eventually(() => sink.bytes(), (n) => n >= 1024 * 1024, 60_000, '1 MiB in the sink');
    await stopSource(source);
    assert.ok(bytes >= 1024 * 1024);
    assert.ok((await cpuSecondsOf(relay.cpuPid)) >= 0);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('the C stream load streams bytes through the pipe-relay baseline, counted by its sink', async (t) => {
  if (!(await hasCommand('cc', ['--version']))) {
    t.skip('no cc: the bench uses the Node load');
    return;
  }
  const load = await startStreamLoad();
  assert.equal(load.kind, 'c');
  const relay = await startPipeRelay([load.sink.port]);
  try {
    assert.equal(await load.sink.bytes(), 0, 'nothing counted before a source starts');
    const source = await load.startSource(relay.ports[0] as number, 3, 64 * 1024);
    assert.ok(source.pid > 0 && load.sink.pid > 0);
    const bytes = await eventually(() => load.sink.bytes(), (n) => n >= 1024 * 1024, 60_000, '1 MiB in the C sink');
    await source.stop();
    await load.sink.settle();
    assert.ok((await load.sink.bytes()) >= bytes, 'the count only grows');
  } finally {
    await relay.stop();
    await load.stop();
  }
});

test('TIDEGATE_BENCH_STREAM_LOAD=node forces the Node stream load', async () => {
  process.env['TIDEGATE_BENCH_STREAM_LOAD'] = 'node';
  try {
    const load = await startStreamLoad();
    try {
      assert.equal(load.kind, 'node');
      assert.ok(load.sink.pid > 0);
    } finally {
      await load.stop();
    }
  } finally {
    delete process.env['TIDEGATE_BENCH_STREAM_LOAD'];
  }
});

test('churn completes request/response/close cycles through the relay without errors', async () => {
  const server = await startChurnServer(1024);
  const relay = await startPipeRelay([server.port]);
  try {
    const result = await runChurn(relay.ports[0] as number, 4, 300, 1024);
    assert.ok(result.connections > 0, 'some connections completed');
    assert.equal(result.errors, 0);
    assert.ok(result.p50 > 0 && result.p50 <= result.p99 && result.p99 <= result.max);
  } finally {
    await relay.stop();
    await server.load.stop();
  }
});

test('churn against a server that answers too little counts errors, not connections', async () => {
  const server = await startChurnServer(512);
  try {
    // The server answers 512 bytes after 512 arrive; the client expects 1024 back.
    const result = await runChurn(server.port, 2, 200, 1024);
    assert.equal(result.connections, 0);
    assert.ok(result.errors > 0);
  } finally {
    await server.load.stop();
  }
});

test('SOCKS5 churn completes its cycles through tidegate\'s proxy service, handshake and all', async () => {
  const server = await startChurnServer(1024);
  const tg = await startTidegate({
    services: [{
      name: 'px', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'], routing: 'direct',
    }],
  });
  try {
    const result = await runChurn(tg.port('px'), 4, 300, 1024, server.port);
    assert.ok(result.connections > 0, 'some connections completed');
    assert.equal(result.errors, 0);
    await eventually(() => tg.records.length >= result.connections, 5_000, 'a relay record for every cycle');
    assert.ok(
      tg.records.every((r) => r.target === `127.0.0.1:${server.port} direct`), 'each went direct to the churn server',
    );
  } finally {
    await tg.stop();
    await server.load.stop();
  }
});
