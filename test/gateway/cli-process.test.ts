import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockUpstream, sleep } from '../fixtures/llm-upstream.js';
import { CLI } from '../helpers/cli.js';
import { freePort } from '../helpers/servers.js';
import { chat, get, post, waitFor } from './helpers.js';

async function startCli(dir: string, upstream: MockUpstream, env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const file = join(dir, `tidegate-${port}.json`);
  writeFileSync(file, JSON.stringify({
    admin: { listen: 'off' },
    log: { level: 'silent' },
    store: { sqlite: join(dir, 'runtime.db') },
    services: [{ name: 'llm', type: 'gateway', listen: `127.0.0.1:${port}`, channels: [{ name: 'oa', kind: 'openai', baseUrl: upstream.baseUrl, keys: ['k'] }] }],
  }));
  const child = spawn(process.execPath, [CLI, 'start', '--config', file], { env: { ...process.env, ...env }, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(() => child.exitCode === null, 100);
  for (let i = 0; i < 200; i++) {
    try {
      if ((await get(`${url}/v1/models`)).status === 200) return { child, url };
    } catch {
      await sleep(25);
    }
  }
  child.kill('SIGKILL');
  throw new Error('tidegate did not start');
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}

describe('gateway: as a process (CLI)', () => {
  let oa: MockUpstream;
  let dir: string;
  before(async () => {
    oa = await MockUpstream.start({ dialect: 'openai', name: 'oa' });
    dir = mkdtempSync(join(tmpdir(), 'tidegate-gw-cli-'));
  });
  after(async () => {
    await oa.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGTERM flushes pending usage rows to SQLite before exit', async () => {
    const { child, url } = await startCli(dir, oa, {});
    assert.equal((await post(`${url}/v1/chat/completions`, chat('gpt-4o'))).status, 200);
    child.kill('SIGTERM');
    assert.equal(await exited(child), 0);
    const db = new Database(join(dir, 'runtime.db'), { readonly: true });
    const n = (db.prepare('SELECT count(*) AS n FROM request_log').get() as { n: number }).n;
    db.close();
    assert.equal(n, 1);
  });

  it('TIDEGATE_SLOW_MS holds every gateway request back (the perf gate\'s slowed candidate)', async () => {
    const { child, url } = await startCli(dir, oa, { TIDEGATE_SLOW_MS: '60000' });
    try {
      const before = oa.requests.length;
      const pending = post(`${url}/v1/chat/completions`, chat('gpt-4o')).catch(() => null);
      await sleep(500);
      assert.equal(oa.requests.length, before, 'the request must still be held back');
      child.kill('SIGKILL');
      await pending;
    } finally {
      child.kill('SIGKILL');
    }
  });
});
