import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { validateConfig } from '../../src/config/schema.js';

function problems(doc: unknown): string[] {
  try {
    validateConfig(doc, 'test');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message.split('\n');
  }
  return [];
}

describe('config: resolver', () => {
  it('reads servers, durations, the cache size and the hosts file', () => {
    const config = validateConfig({
      resolver: {
        servers: ['127.0.0.1', '127.0.0.1:5353', '[::1]:53'], minTtl: '2s', maxTtl: '10m', negativeTtl: '30s',
        cacheSize: 50, hostsFile: null,
      },
    });
    assert.deepEqual(config.resolver, {
      servers: ['127.0.0.1', '127.0.0.1:5353', '[::1]:53'], minTtlMs: 2_000, maxTtlMs: 600_000,
      negativeTtlMs: 30_000, cacheSize: 50, hostsFile: null,
    });
  });

  it('names the path of each bad value', () => {
    const found = problems({
      resolver: { servers: ['dns.example', '127.0.0.1:99999'], minTtl: '1m', maxTtl: '5s', cacheSize: -1, ttl: 1 },
    }).join('\n');
    assert.match(found, /resolver\.servers\[0\]/);
    assert.match(found, /resolver\.servers\[1\]/);
    assert.match(found, /resolver\.maxTtl: must be at least resolver\.minTtl/);
    assert.match(found, /resolver\.cacheSize/);
    assert.match(found, /resolver\.ttl: unknown key/);
  });
});
