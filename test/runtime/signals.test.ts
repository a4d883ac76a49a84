import assert from 'node:assert/strict';
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { taggedServer } from '../fixtures/tcp.js';
import { startCli } from '../helpers/cli.js';
import { freePort } from '../helpers/listen.js';
import { connectTo, readLine } from '../helpers/sockets.js';
import { eventually } from '../helpers/wait.js';

function configText(adminPort: number, services: string[], extra = ''): string {
  return `admin: { listen: "127.0.0.1:${adminPort}", token: "t0ken" }\nstore: { sqlite: off }\n`
    + `${extra}services:\n${services.map((s) => `  - ${s}\n`).join('')}`;
}

async function serviceNames(adminPort: number): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/services`, { headers: { authorization: 'Bearer t0ken' } });
  return ((await res.json()) as { name: string }[]).map((s) => s.name);
}

describe('reload triggers', () => {
  it('reloads on SIGHUP, on POST /reload, and on a change of the watched file', async () => {
    const a = await taggedServer('a');
    const [adminPort, p1, p2, p3] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const dir = await mkdtemp(join(tmpdir(), 'tidegate-reload-'));
    const file = join(dir, 'tidegate.yaml');
    const svc = (name: string, port: number): string =>
      `{ name: ${name}, type: forward, listen: "127.0.0.1:${port}", targets: [${a.address}] }`;
    await writeFile(file, configText(adminPort, [svc('one', p1)], 'reload: { watch: true }\n'));
    const tg = startCli(['start', '--config', file], { TIDEGATE_RELAY: 'js' });
    try {
      await tg.waitFor('admin API listening');
      assert.deepEqual(await serviceNames(adminPort), ['one']);

      // SIGHUP (watching is on, so write the file via rename to make both paths idempotent).
      await writeFile(
        `${file}.tmp`, configText(adminPort, [svc('one', p1), svc('two', p2)], 'reload: { watch: true }\n'),
      );
      await rename(`${file}.tmp`, file);
      tg.child.kill('SIGHUP');
      await eventually(async () => (await serviceNames(adminPort)).includes('two'), 5_000, 'service two');

      // POST /reload without the token is refused; with it, applies; an invalid file returns 422 and changes nothing.
      assert.equal((await fetch(`http://127.0.0.1:${adminPort}/reload`, { method: 'POST' })).status, 401);
      const bad = '{ name: bad, type: forward, listen: "80", targets: [] }';
      await writeFile(file, configText(adminPort, [svc('one', p1), svc('two', p2), bad], 'reload: { watch: true }\n'));
      await new Promise((r) => setTimeout(r, 400));
      const rejected = await fetch(`http://127.0.0.1:${adminPort}/reload`, { method: 'POST', headers: { authorization: 'Bearer t0ken' } });
      assert.equal(rejected.status, 422);
      const body = (await rejected.json()) as { error: { code: string; issues: { path: string }[] } };
      assert.equal(body.error.code, 'TG_ERR_CONFIG');
      assert.deepEqual(body.error.issues.map((i) => i.path), ['services[2].listen', 'services[2].targets']);
      assert.deepEqual(await serviceNames(adminPort), ['one', 'two']);

      await writeFile(file, configText(adminPort, [svc('three', p3)], 'reload: { watch: true }\n'));
      const applied = await fetch(`http://127.0.0.1:${adminPort}/reload`, { method: 'POST', headers: { authorization: 'Bearer t0ken' } });
      assert.ok(applied.status === 200 || applied.status === 409, `reload answered ${applied.status}`);
      await eventually(async () => (await serviceNames(adminPort)).join() === 'three', 5_000, 'only service three');
      const client = await connectTo(p3);
      assert.equal(await readLine(client), 'a');
      client.destroy();

      // The file watcher alone picks up a change.
      await writeFile(file, configText(adminPort, [svc('three', p3), svc('four', p1)], 'reload: { watch: true }\n'));
      await eventually(async () => (await serviceNames(adminPort)).includes('four'), 5_000, 'watched change applied')
        .catch((e: Error) => {
          throw new Error(`${e.message}\n${tg.output()}`);
        });
    } finally {
      tg.child.kill('SIGTERM');
      assert.equal(await tg.exited, 0, tg.output());
      await a.close();
    }
  });
});
