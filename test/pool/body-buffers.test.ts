import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convertRequest, parseRequest } from '../../src/dialects/offload.js';
import { BodyBufferPool } from '../../src/pool/body-buffers.js';
import { chatBodyOfSize, buf } from '../fixtures/pool/bodies.js';
import { makePool } from './helpers.js';

describe('BodyBufferPool', () => {
  it('copies into a power-of-two ArrayBuffer it owns, and reuses it once released', () => {
    const p = new BodyBufferPool(1024, 1 << 20, 4 << 20);
    const body = Buffer.alloc(3000, 0x61);
    const a = p.copy(body);
    assert.equal(a.byteLength, 3000);
    assert.equal(a.byteOffset, 0);
    assert.equal(a.buffer.byteLength, 4096);
    assert.ok(Buffer.from(a.buffer, 0, 3000).equals(body));
    p.release(a.buffer as ArrayBuffer);
    assert.equal(p.idle, 4096);
    const b = p.copy(Buffer.alloc(2500, 0x62));
    assert.strictEqual(b.buffer, a.buffer);
    assert.equal(p.reused, 1);
    assert.equal(p.idle, 0);
  });

  it('small and huge bodies get exact buffers that are never kept; the idle cap holds', () => {
    const p = new BodyBufferPool(1024, 8192, 8192);
    const small = p.copy(Buffer.alloc(100));
    assert.equal(small.buffer.byteLength, 100);
    p.release(small.buffer as ArrayBuffer);
    const huge = p.copy(Buffer.alloc(10_000));
    assert.equal(huge.buffer.byteLength, 10_000);
    p.release(huge.buffer as ArrayBuffer);
    assert.equal(p.idle, 0);
    p.release(new ArrayBuffer(8192));
    p.release(new ArrayBuffer(8192));
    assert.equal(p.idle, 8192);
  });
});

describe('pool recycles body copies', () => {
  it('the worker moves the copied input back; the next large body reuses it', async () => {
    const pool = makePool({ threads: 1 }, 0);
    try {
      const body = chatBodyOfSize(300_000);
      await parseRequest(pool, 'openai-chat', body);
      await parseRequest(pool, 'openai-chat', body);
      await convertRequest(pool, 'openai-chat', 'anthropic-messages', body);
      const s = pool.stats().bodyBuffers;
      assert.equal(s.allocated, 1);
      assert.equal(s.reused, 2);
      assert.equal(s.idleBytes, 512 * 1024);
      // A body that fails validation is not returned, and nothing breaks.
      await assert.rejects(parseRequest(pool, 'openai-chat', Buffer.concat([body, buf(1)])));
      assert.equal(pool.stats().bodyBuffers.idleBytes, 0);
    } finally {
      await pool.close();
    }
  });
});

describe('BodyBufferPool trims', () => {
  it('buffers that stayed idle through a whole trim interval are let go; ones in use are kept', () => {
    const p = new BodyBufferPool(1024, 1 << 20, 4 << 20, 60_000);
    const a = p.copy(Buffer.alloc(3000));
    const b = p.copy(Buffer.alloc(3000));
    p.release(a.buffer as ArrayBuffer);
    p.release(b.buffer as ArrayBuffer);
    assert.equal(p.idle, 8192);
    // First trim: both arrived during the interval (low-water 0), nothing goes.
    p.trim();
    assert.equal(p.idle, 8192);
    // One is taken and given back during the next interval: the other one idled throughout.
    p.release(p.copy(Buffer.alloc(3000)).buffer as ArrayBuffer);
    p.trim();
    assert.equal(p.idle, 4096);
    assert.equal(p.trimmed, 1);
    // Nobody needs buffers any more: the pool empties.
    p.trim();
    assert.equal(p.idle, 0);
    assert.equal(p.trimmed, 2);
  });
});
