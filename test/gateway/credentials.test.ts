import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { messages } from '../helpers/llm.js';

describe('gateway: channels fed by a credentials directory (OAuth accounts)', () => {
  const gw = withGateway({
    upstreams: { an: 'anthropic' },
    gateway: ({ an }) => {
      const dir = join(gw.dir, 'credentials');
      mkdirSync(dir, { recursive: true });
      const hour = 3_600_000;
      const write = (file: string, value: unknown): void => writeFileSync(join(dir, file), JSON.stringify(value));
      write('alive.json', {
        claudeAiOauth: { accessToken: 'tok-alive', refreshToken: 'r1', expiresAt: Date.now() + hour },
      });
      write('second.json', {
        access_token: 'tok-second', refresh_token: 'r3', expires_at: Date.now() + hour, account_id: 'second',
      });
      write('expired.json', { access_token: 'tok-old', refresh_token: 'r2', expires_at: Date.now() - hour });
      writeFileSync(join(dir, 'broken.json'), '{"access_token": "x"');
      return { channels: [{ name: 'claude', kind: 'anthropic', baseUrl: an.baseUrl, credentialsDir: dir }] };
    },
  });
  const { an } = gw.up;

  it('sends live accounts\' access tokens as OAuth bearer tokens, rotating between them', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await post(`${gw.url}/v1/messages`, messages('claude-3'))).status, 200);
    const auths = an.requests.map((r) => r.headers.authorization);
    assert.deepEqual(new Set(auths), new Set(['Bearer tok-alive', 'Bearer tok-second']));
    assert.notEqual(auths[0], auths[1]);
    assert.match(String(an.requests[0]!.headers['anthropic-beta']), /oauth/);
    assert.equal(an.requests[0]!.headers['x-api-key'], undefined);
  });

  it('reports skipped files (invalid) and expired accounts in the channel status', () => {
    const ch = gw.channel('claude');
    assert.equal(ch.credentials.usable, 2);
    const files = (ch.accountProblems as { file: string }[]).map((p) => p.file);
    assert.ok(files.includes('broken.json'));
    const expired = (ch.accountProblems as { file: string; reason: string }[]).find((p) => /expired/.test(p.reason));
    assert.equal(expired?.file, '1 account(s)');
  });

  it('an account the upstream refuses is skipped and reported', async () => {
    an.script.push({ kind: 'status', status: 401 });
    assert.equal((await post(`${gw.url}/v1/messages`, messages('claude-3'))).status, 200);
    const ch = gw.channel('claude');
    assert.equal(ch.credentials.usable, 1);
    assert.match(ch.credentials.skipped[0].reason, /refused by upstream: 401/);
  });
});
