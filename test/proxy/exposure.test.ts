import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import { documentToConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { socks5Connect } from '../helpers/proxy-client.js';
import { runCli } from '../helpers/cli.js';
import { testConfig } from '../helpers/tidegate.js';

async function tempFile(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tidegate-exposure-'));
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

function issuesOf(doc: Record<string, unknown>): string[] {
  try {
    documentToConfig(doc, 'test');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

/** A logger whose warnings the test can read. */
function capturingLogger(): { log: Logger; warnings: () => string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const log = pino({ level: 'warn' }, sink);
  return { log, warnings: () => lines.map((l) => (JSON.parse(l) as { msg: string }).msg) };
}

describe('exposure', () => {
  it('a proxy on a non-loopback address is an open proxy: refused with its path unless allowOpen', () => {
    const proxy = { name: 'px', type: 'proxy', routing: 'direct' };
    for (const listen of ['0.0.0.0:1080', '[::]:1080', '10.0.0.5:1080', 'proxy.example:1080']) {
      const issues = issuesOf({
        admin: { listen: 'off' },
        services: [
          { name: 'f', type: 'forward', listen: '0.0.0.0:2222', targets: ['10.0.0.1:22'] }, { ...proxy, listen },
        ],
      });
      assert.equal(issues.length, 1, listen);
      assert.match(issues[0]!, /^services\[1\]\.listen: a proxy on .* \(not loopback\) without client authentication is an open proxy; .*allowOpen: true/);
      assert.deepEqual(issuesOf({ admin: { listen: 'off' }, services: [{ ...proxy, listen, allowOpen: true }] }), []);
    }
    for (const listen of ['127.0.0.1:1080', '127.3.4.5:1080', '[::1]:1080', 'localhost:1080']) {
      assert.deepEqual(issuesOf({ admin: { listen: 'off' }, services: [{ ...proxy, listen }] }), [], listen);
    }
  });

  it('an admin API on a non-loopback address needs a token unless admin.allowNoToken', () => {
    const issues = issuesOf({ admin: { listen: '0.0.0.0:9090' } });
    assert.equal(issues.length, 1);
    assert.match(issues[0]!, /^admin\.listen: the admin API on 0\.0\.0\.0:9090 \(not loopback\) has no token/);
    assert.deepEqual(issuesOf({ admin: { listen: '0.0.0.0:9090', token: 's3cret' } }), []);
    assert.deepEqual(issuesOf({ admin: { listen: '0.0.0.0:9090', allowNoToken: true } }), []);
    assert.deepEqual(issuesOf({ admin: { listen: '127.0.0.1:9090' } }), [], 'the embedded default stays valid');
    assert.match(issuesOf({ admin: { allowNoToken: 'yes' } })[0]!, /^admin\.allowNoToken: expected true or false/);
  });

  it('validates allowDestinations and denyPrivate with paths', () => {
    const issues = issuesOf({
      admin: { listen: 'off' },
      services: [{
        name: 'px', type: 'proxy', listen: '127.0.0.1:1080',
        allowDestinations: ['127.0.0.1/32', '10.0.0.0/40', 'x:1', 7], denyPrivate: 'no',
      }],
    });
    assert.equal(issues.length, 4);
    assert.match(issues[0]!, /^services\[0\]\.allowDestinations\[1\]: expected a prefix length 0-32/);
    assert.match(issues[1]!, /^services\[0\]\.allowDestinations\[2\]: expected an IP address or CIDR/);
    assert.match(issues[2]!, /^services\[0\]\.allowDestinations\[3\]: expected a non-empty string/);
    assert.match(issues[3]!, /^services\[0\]\.denyPrivate: expected true or false/);
  });

  it('tidegate check prints the open proxy and the tokenless admin with their paths and exits 2; '
    + 'allowed, it exits 0', async () => {
    const open = await tempFile('open.yaml', [
      'admin: { listen: 0.0.0.0:9090 }',
      'services:',
      '  - { name: local, type: proxy, listen: 127.0.0.1:1080 }',
      '  - { name: public, type: proxy, listen: 0.0.0.0:1081 }',
    ].join('\n'));
    const refused = await runCli(['check', '--config', open]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /TG_ERR_CONFIG: 2 problem\(s\)/);
    assert.match(refused.stderr, /^ {2}admin\.listen: the admin API on 0\.0\.0\.0:9090/m);
    assert.match(refused.stderr, /^ {2}services\[1\]\.listen: a proxy on 0\.0\.0\.0:1081 \(not loopback\) without client authentication/m);
    const start = await runCli(['start', '--config', open]);
    assert.equal(start.code, 2, 'start refuses the same config');

    const allowed = await tempFile('allowed.yaml', [
      'admin: { listen: 0.0.0.0:9090, allowNoToken: true }',
      'services:',
      '  - { name: public, type: proxy, listen: 0.0.0.0:1081, allowOpen: true }',
    ].join('\n'));
    const ok = await runCli(['check', '--config', allowed]);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('an allowed open proxy and tokenless admin are warned about at every start and reload', async () => {
    const { log, warnings } = capturingLogger();
    const doc = {
      admin: { listen: '0.0.0.0:0', allowNoToken: true },
      services: [{
        name: 'px', type: 'proxy', listen: '0.0.0.0:0', routing: 'direct', allowOpen: true,
        allowDestinations: ['127.0.0.0/8'],
      }],
    };
    const runtime = await Runtime.start(testConfig(doc), {
      log, source: { file: null, load: async () => testConfig(doc) },
    });
    try {
      const started = warnings();
      assert.ok(started.some((w) => /^a proxy on 0\.0\.0\.0:0 \(not loopback\) without client authentication is an open proxy \(allowed by the config\)$/.test(w)), started.join('\n'));
      assert.ok(started.some((w) => /^the admin API on 0\.0\.0\.0:0 \(not loopback\) has no token/.test(w)));
      await runtime.reloadFromSource();
      assert.equal(warnings().filter((w) => w.startsWith('a proxy on')).length, 2, 'warned again at the reload');
      // A wildcard listener is tidegate's own on every local address: 127.0.0.1:<its port> is refused.
      const port = Number(runtime.status().services[0]!.listen.split(':').pop());
      assert.equal((await socks5Connect(port, '127.0.0.1', port)).reply, 0x02);
      const adminPort = Number(runtime.adminAddress()!.split(':').pop());
      assert.equal((await socks5Connect(port, '127.0.0.1', adminPort)).reply, 0x02);
    } finally {
      await runtime.shutdown();
    }
  });
});
