import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockUpstream } from '../fixtures/llm-upstream.js';
import { startTidegateProcess, type CliProcess } from '../helpers/cli.js';
import { channel } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat } from '../helpers/llm.js';
import { tempDir } from '../helpers/temp.js';
import { sleep } from '../helpers/wait.js';

describe('gateway: as a process (CLI)', () => {
  let oa: MockUpstream;
  let dir: string;
  before(async () => {
    oa = await MockUpstream.start({ dialect: 'openai', name: 'oa' });
    dir = tempDir('tidegate-gw-cli-');
  });
  after(async () => {
    await oa.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** `tidegate start`: one gateway in front of `oa`, its request log in `dir`. */
  async function start(env: Record<string, string>): Promise<{ tg: CliProcess; url: string }> {
    const tg = await startTidegateProcess(dir, {
      admin: { listen: 'off' },
      log: { level: 'info' },
      store: { sqlite: join(dir, 'runtime.db') },
      services: [{ name: 'llm', type: 'gateway', listen: '127.0.0.1:0', channels: [channel(oa)] }],
    }, ['llm'], { env });
    return { tg, url: `http://${tg.address('llm')}` };
  }

  it('SIGTERM flushes pending usage rows to SQLite before exit', async () => {
    const { tg, url } = await start({});
    assert.equal((await post(`${url}/v1/chat/completions`, chat('gpt-4o'))).status, 200);
    tg.child.kill('SIGTERM');
    assert.equal(await tg.exited, 0);
    const db = new Database(join(dir, 'runtime.db'), { readonly: true });
    const n = (db.prepare('SELECT count(*) AS n FROM request_log').get() as { n: number }).n;
    db.close();
    assert.equal(n, 1);
  });

  it('TIDEGATE_SLOW_MS holds every gateway request back (the perf gate\'s slowed candidate)', async () => {
    const { tg, url } = await start({ TIDEGATE_SLOW_MS: '60000' });
    try {
      const before = oa.requests.length;
      const pending = post(`${url}/v1/chat/completions`, chat('gpt-4o')).catch(() => null);
      await sleep(500);
      assert.equal(oa.requests.length, before, 'the request must still be held back');
      tg.child.kill('SIGKILL');
      await pending;
    } finally {
      tg.child.kill('SIGKILL');
    }
  });
});
