import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { openDatabase } from '../../src/store/database.js';
import { Ledger, LEDGER_MIGRATIONS } from '../../src/store/ledger.js';
import { UsageLog, USAGE_MIGRATIONS } from '../../src/store/usage-log.js';

describe('spend: a database of the previous version keeps working', () => {
  it('request_log and accounting_usage gain their columns; old rows read NULL / 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidegate-mig-'));
    try {
      const file = join(dir, 'old.db');
      const old = await openDatabase(file, [USAGE_MIGRATIONS[0]!, LEDGER_MIGRATIONS[0]!]);
      old.prepare(`INSERT INTO request_log (ts, service, endpoint, stream, status, prompt_tokens, latency_ms, attempts)
        VALUES (1, 'llm', '/v1/chat/completions', 0, 200, 5, 1.5, 1)`).run();
      old.prepare(`INSERT INTO accounting_usage (kind, subject, period, tokens, updated_at)
        VALUES ('user', 'u', 'all', 9, 1)`).run();
      old.close();
      const db = await openDatabase(file);
      const log = new UsageLog(db, createLogger('silent'));
      const ledger = new Ledger(db);
      log.push({
        ts: 2, service: 'llm', user: 'u', channel: 'c', endpoint: '/v1/messages', model: 'm', stream: true, status: 200,
        promptTokens: 10, completionTokens: 4, totalTokens: 14, inputTokens: 6, cacheReadTokens: 3, cacheWriteTokens: 1,
        outputTokens: 4, reasoningTokens: 0, costMicros: 123, estimated: true, bytesIn: 1, bytesOut: 1,
        latencyMs: 2, ttfbMs: 1, attempts: 1, error: null, client: null,
      });
      await log.close();
      const rows = db.prepare(`SELECT prompt_tokens, input_tokens, cache_read_tokens, cost_micros, estimated
        FROM request_log ORDER BY id`).all();
      assert.deepEqual(rows, [
        { prompt_tokens: 5, input_tokens: null, cache_read_tokens: null, cost_micros: null, estimated: 0 },
        { prompt_tokens: 10, input_tokens: 6, cache_read_tokens: 3, cost_micros: 123, estimated: 1 },
      ]);
      const before = ledger.read('user', 'u', 'all')!;
      assert.equal(before.tokens, 9);
      assert.equal(before.costMicros, 0);
      const zero = { bytesIn: 0, bytesOut: 0, connections: 0, requests: 1, tokens: 14, inputTokens: 6,
        cacheReadTokens: 3,
        cacheWriteTokens: 1, outputTokens: 4, reasoningTokens: 0, costMicros: 123 };
      ledger.write([{ kind: 'user', subject: 'u', period: 'all', counts: zero }], 5);
      const after = ledger.read('user', 'u', 'all')!;
      assert.deepEqual([after.tokens, after.cacheReadTokens, after.costMicros], [23, 3, 123]);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
