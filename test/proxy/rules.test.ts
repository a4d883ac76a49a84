import assert from 'node:assert/strict';
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { recordingProxy, taggedServer } from '../fixtures/tcp.js';
import { httpConnect, socks5Connect } from '../helpers/proxy-client.js';
import { readLine } from '../helpers/sockets.js';
import { startTidegate, type Running } from '../helpers/tidegate.js';
import { eventually } from '../helpers/wait.js';

interface RuleSetStatus {
  name: string;
  entries: number;
  error: string | null;
}

interface ReloadReply {
  ok: boolean;
  unchanged: string[];
  refreshed: string[];
}

async function tempFile(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tidegate-rules-'));
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

/** Replaces a file the way editors do (write aside, rename over). */
async function replaceFile(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

/** The tag line of the server a SOCKS5 CONNECT reached, or the reply code when the proxy refused. */
async function reach(port: number, host: string, destPort: number): Promise<string> {
  const c = await socks5Connect(port, host, destPort);
  if (c.reply !== 0) {
    c.socket.destroy();
    return `reply ${c.reply}`;
  }
  const line = await readLine(c.socket);
  c.socket.destroy();
  return line;
}

/** A plain absolute-URI GET through the proxy. */
function fetchVia(port: number, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: url, headers: { host: new URL(url).host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function postReload(tg: Running): Promise<ReloadReply> {
  const res = await fetch(`http://${tg.runtime.adminAddress()!}/reload`, { method: 'POST' });
  assert.equal(res.status, 200);
  return (await res.json()) as ReloadReply;
}

function ruleSets(tg: Running): RuleSetStatus[] {
  return (tg.status('px').detail as { ruleSets: RuleSetStatus[] }).ruleSets;
}

describe('proxy rules', () => {
  it('a domain rule sends one name upstream and another direct; keyword rules reject; final for the rest', async () => {
    const near = await taggedServer('near');
    const far = await taggedServer('far');
    const exit = await recordingProxy(far.port);
    const tg = await startTidegate({
      services: [{
        name: 'px', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'], routing: 'direct',
        upstream: `http://127.0.0.1:${exit.port}`,
        rules: [
          { match: { domainKeyword: 'blocked' }, action: 'reject' },
          { match: { domainSuffix: 'far.test' }, action: 'upstream' },
          { match: { domain: 'localhost' }, action: 'direct' },
          { match: { port: [near.port] }, action: 'direct' },
        ],
        final: 'reject',
      }],
    });
    try {
      const port = tg.port('px');
      assert.equal(await reach(port, 'localhost', near.port), 'near');
      assert.equal(await reach(port, 'www.far.test', 443), 'far');
      assert.equal(await reach(port, 'far.test', 443), 'far');
      assert.equal(await reach(port, 'blocked.far.test', 443), 'reply 2', 'the keyword rule comes first');
      assert.equal(await reach(port, 'notfar.test', 443), 'reply 2', 'a suffix matches at label boundaries only');
      assert.equal(await reach(port, '127.0.0.1', near.port), 'near', 'the port rule');
      const viaHttp = await httpConnect(port, 'api.far.test:8443');
      assert.equal(viaHttp.status, 200);
      assert.equal(await readLine(viaHttp.socket), 'far');
      viaHttp.socket.destroy();
      assert.deepEqual(exit.targets, ['www.far.test:443', 'far.test:443', 'api.far.test:8443']);
      // Plain http:// requests follow the same rules.
      const plain = await fetchVia(port, 'http://ads.blocked.test/x');
      assert.equal(plain.status, 403);
      assert.match(plain.body, /TG_ERR_DESTINATION_DENIED/);
      const detail = tg.status('px').detail as { routed: unknown; rules: { count: number; rejected: number } };
      assert.deepEqual(detail.routed, { direct: 2, upstream: 3 });
      assert.equal(detail.rules.count, 4);
      assert.equal(detail.rules.rejected, 3);
    } finally {
      await tg.stop();
      await exit.close();
      await near.close();
      await far.close();
    }
  });

  it('applies an edited rule-set file without restart (watch, POST /reload); a broken file keeps it', async () => {
    const far = await taggedServer('far');
    const exit = await recordingProxy(far.port);
    const file = await tempFile('far.txt', '# v2ray style\nfull:one.far.test\n');
    const tg = await startTidegate({
      admin: { listen: '127.0.0.1:0' },
      services: [{
        name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct', upstream: `http://127.0.0.1:${exit.port}`,
        ruleSets: [{ name: 'far', file, format: 'v2ray' }],
        rules: [{ match: { ruleSet: 'far' }, action: 'upstream' }],
        final: 'reject',
      }],
    });
    try {
      const port = tg.port('px');
      assert.equal(await reach(port, 'one.far.test', 80), 'far');
      assert.equal(await reach(port, 'two.far.test', 80), 'reply 2');
      assert.equal(await reach(port, 'x.one.far.test', 80), 'reply 2', 'full: matches one name only');

      // Edited in place: the watch applies it.
      await replaceFile(file, 'full:one.far.test\ndomain:two.far.test @cn\n');
      await eventually(async () => (await reach(port, 'x.two.far.test', 80)) === 'far', 10_000, 'watched edit');
      assert.equal(ruleSets(tg)[0]!.entries, 2);

      // POST /reload re-reads it too: once the reply is there, the new contents are in force.
      await replaceFile(file, 'full:one.far.test\ndomain:two.far.test\nkeyword:three\n');
      const reply = await postReload(tg);
      assert.equal(reply.ok, true);
      assert.deepEqual(reply.unchanged, ['px']);
      assert.equal(await reach(port, 'www.three.test', 80), 'far');

      // A broken file keeps the previous set and says why in /status.
      await replaceFile(file, 'full:one.far.test\nregexp:^four\\.\n');
      await postReload(tg);
      const status = ruleSets(tg)[0]!;
      assert.match(status.error ?? '', /line 2: regexp: rules are not supported/);
      assert.equal(status.entries, 3);
      assert.equal(await reach(port, 'www.three.test', 80), 'far', 'the previous set is still in force');

      // Fixed again: the error clears.
      await replaceFile(file, 'full:one.far.test\n');
      await postReload(tg);
      assert.equal(ruleSets(tg)[0]!.error, null);
      assert.equal(await reach(port, 'www.three.test', 80), 'reply 2');
    } finally {
      await tg.stop();
      await exit.close();
      await far.close();
    }
  });

  it('a rule set that cannot be read fails the start with its file and line', async () => {
    const file = await tempFile('bad.txt', 'example.com\nnot a name\n');
    await assert.rejects(startTidegate({
      services: [{
        name: 'px', type: 'proxy', listen: '127.0.0.1:0', routing: 'direct',
        ruleSets: [{ name: 'bad', file, format: 'domains' }], rules: [{ match: { ruleSet: 'bad' }, action: 'reject' }],
      }],
    }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TG_ERR_RULE_SET');
      assert.match(err.message, /bad\.txt: line 2: expected a domain name/);
      return true;
    });
  });

  it('geo.lists edits apply on POST /reload (no restart); the bypass_cn preset routes by them', async () => {
    const near = await taggedServer('near');
    const exit = await recordingProxy(near.port);
    const us = await tempFile('us.txt', '127.0.0.9/32\n');
    const tg = await startTidegate({
      admin: { listen: '127.0.0.1:0' },
      geo: { database: 'embedded', lists: [{ country: 'US', file: us }] },
      services: [{
        name: 'px', type: 'proxy', listen: '127.0.0.1:0', allowDestinations: ['127.0.0.0/8'], routing: 'bypass_cn',
        upstream: `http://127.0.0.1:${exit.port}`,
      }],
    });
    try {
      const port = tg.port('px');
      // Loopback with no country: the preset dials it directly.
      assert.equal(await reach(port, '127.0.0.1', near.port), 'near');
      assert.deepEqual(exit.targets, []);
      // Now 127.0.0.1 is listed as US: not a direct country, so upstream once the reload re-read the list.
      await replaceFile(us, '127.0.0.1/32\n');
      const reply = await postReload(tg);
      assert.equal(reply.ok, true);
      assert.deepEqual(reply.unchanged, ['px']);
      assert.deepEqual(reply.refreshed, ['geo']);
      assert.equal(await reach(port, '127.0.0.1', near.port), 'near');
      assert.deepEqual(exit.targets, [`127.0.0.1:${near.port}`]);
      const again = await postReload(tg);
      assert.deepEqual(again.refreshed, [], 'nothing changed since');
    } finally {
      await tg.stop();
      await exit.close();
      await near.close();
    }
  });
});
