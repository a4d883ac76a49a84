import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCredentialIndex, type CredentialIndex } from '../../src/credentials/index.js';
import { scanInPool } from '../../src/credentials/offload.js';
import { CredentialsDirError } from '../../src/errors.js';
import type { WorkerPool } from '../../src/pool/index.js';
import { generateCredentialDir, sha256, type GeneratedCredentials } from '../fixtures/pool/credentials.js';
import { makePool, silent } from '../pool/helpers.js';

describe('credential directory of 2,000 files', () => {
  let pool: WorkerPool;
  let dir: string;
  let gen: GeneratedCredentials;
  let index: CredentialIndex;
  before(async () => {
    pool = makePool({ threads: 2 });
    dir = await mkdtemp(join(tmpdir(), 'tg-creds-'));
    gen = await generateCredentialDir(dir, 2000);
    index = createCredentialIndex(dir, pool, { ttlMs: 3_600_000, log: silent });
    await index.ready();
  });
  after(async () => {
    index.close();
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('indexes every valid file with account, file, provider, expiry and refresh-token hash', () => {
    assert.equal(gen.valid.size + gen.invalid.size, 2000);
    for (const [id, want] of gen.valid) {
      const e = index.get(id);
      assert.ok(e, `account ${id} missing`);
      assert.equal(e.file, want.file);
      assert.equal(e.provider, want.provider);
      assert.equal(e.expiresAt, want.expiresAt);
      assert.equal(e.refreshTokenSha256, want.sha);
    }
    assert.equal(index.stats().accounts, gen.valid.size);
  });

  it('accounts() leaves out expired ones; get() still answers them', () => {
    const live = index.accounts();
    assert.equal(live.length, gen.valid.size - gen.expired.size);
    assert.ok(gen.expired.size > 50);
    for (const e of live) assert.ok(!gen.expired.has(e.accountId));
    const oneExpired = [...gen.expired][0]!;
    assert.ok(index.get(oneExpired));
    assert.strictEqual(index.accounts(), live, 'the live list is cached until something changes or expires');
  });

  it('broken and half-written files are listed with why; non-JSON and hidden files are ignored', () => {
    const bad = index.invalid();
    assert.equal(bad.size, gen.invalid.size);
    for (const [file, reason] of gen.invalid) {
      assert.ok(bad.get(file)?.includes(reason), `${file}: got "${bad.get(file)}", want "${reason}"`);
    }
    assert.equal(bad.has('README.txt'), false);
    assert.equal(index.get('hidden'), null);
  });

  it('a new, a changed and a deleted file are seen within one second (fs.watch, not the 1 h TTL)', async () => {
    const before = index.stats();
    const added = 'claude/new-account.json';
    await writeFile(
      join(dir, added), JSON.stringify({ account_id: 'fresh', refresh_token: 'rt-fresh', provider: 'claude' }),
    );
    await until(index, () => index.get('fresh') !== null);
    assert.equal(index.get('fresh')!.refreshTokenSha256, sha256('rt-fresh'));

    // a0 has duplicates (see below)
    const [victimId, victim] = [...gen.valid].find(([id]) => !gen.expired.has(id) && id !== 'a0')!;
    await writeFile(join(dir, victim.file), '{"refresh_token": "half');
    await until(index, () => index.get(victimId) === null);
    assert.match(index.invalid().get(victim.file)!, /not valid JSON/);

    await unlink(join(dir, added));
    await until(index, () => index.get('fresh') === null);
    assert.ok(!index.accounts().some((e) => e.accountId === 'fresh'));
    assert.equal(index.stats().scans, before.scans, 'no full rescan was needed');
    assert.ok(index.stats().partialScans > before.partialScans);
  });

  it('when an account\'s file goes, a file skipped as its duplicate takes over', async () => {
    const owner = index.get('a0')!;
    assert.equal(owner.file, 'claude/nested/acct-00000.json');
    await unlink(join(dir, owner.file));
    await until(index, () => index.get('a0')?.file.startsWith('zz-dups/') === true);
    assert.equal(index.invalid().has(index.get('a0')!.file), false);
  });

  it('refresh() rescans the whole directory', async () => {
    const scans = index.stats().scans;
    await index.refresh();
    assert.equal(index.stats().scans, scans + 1);
  });
});

/** Waits for `cond` after index updates; fails after one second (the bound for seeing a change). */
async function until(index: CredentialIndex, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 1000;
  while (!cond()) {
    const left = deadline - Date.now();
    assert.ok(left > 0, 'change not seen within one second');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([index.nextUpdate(), new Promise((r) => { timer = setTimeout(r, left); })]);
    clearTimeout(timer);
  }
}

describe('credential directory faults', () => {
  it('a missing directory fails ready() with CredentialsDirError', async () => {
    const pool = makePool();
    const parent = await mkdtemp(join(tmpdir(), 'tg-creds-missing-'));
    try {
      const dir = join(parent, 'no-such-dir'); // inside a fresh directory: nothing else can have made it
      const index = createCredentialIndex(dir, pool, { log: silent });
      await assert.rejects(index.ready(), (e: unknown) => e instanceof CredentialsDirError && e.code === 'TG_ERR_CREDENTIALS_DIR' && e.dir === dir && /does not exist/.test(e.message));
      index.close();
    } finally {
      await pool.close();
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('a file given as the directory is refused', async () => {
    const pool = makePool();
    const dir = await mkdtemp(join(tmpdir(), 'tg-creds-file-'));
    try {
      await writeFile(join(dir, 'f.json'), '{}');
      await assert.rejects(scanInPool(pool, join(dir, 'f.json')), (e: unknown) => e instanceof CredentialsDirError && /not a directory/.test(e.message));
    } finally {
      await pool.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
