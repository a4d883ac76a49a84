import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LruCache } from '../../src/util/lru-cache.js';

function fill(c: LruCache<number>, keys: string[]): void {
  for (const k of keys) c.set(k, k.charCodeAt(0));
}

describe('LruCache', () => {
  it('evicts the oldest entry not read since it was inserted', () => {
    const c = new LruCache<number>(3);
    fill(c, ['a', 'b', 'c']);
    assert.equal(c.get('a'), 97);
    c.set('d', 100);
    assert.equal(c.peek('b'), undefined, 'b: the oldest unread entry');
    assert.equal(c.evicted, 1);
    c.set('e', 101);
    assert.equal(c.peek('c'), undefined, 'c: a was read, so it got a second chance');
    assert.deepEqual(['a', 'd', 'e'].map((k) => c.peek(k) !== undefined), [true, true, true]);
    c.set('f', 102);
    assert.equal(c.peek('a'), undefined, 'a used its second chance');
    assert.equal(c.size, 3);
  });

  it('evicts even when every entry was read, in insertion order', () => {
    const c = new LruCache<number>(3);
    fill(c, ['a', 'b', 'c']);
    for (const k of ['c', 'b', 'a']) c.get(k);
    c.set('d', 100);
    assert.equal(c.peek('a'), undefined);
    assert.equal(c.size, 3);
  });

  it('bounds the work of one eviction in a cache where every entry was read', () => {
    const c = new LruCache<number>(100);
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
    for (const k of keys) c.set(k, 1);
    for (const k of keys) c.get(k);
    c.set('new', 2);
    assert.equal(c.size, 100);
    // The 32 oldest got their second chance; the next one went even though it was read.
    assert.equal(c.peek('k32'), undefined);
    assert.equal(c.peek('k0'), 1);
    assert.equal(c.peek('k31'), 1);
    assert.equal(c.peek('new'), 2);
  });

  it('counts hits and misses; peek counts and marks nothing', () => {
    const c = new LruCache<number | null>(2);
    c.set('a', null);
    c.set('b', 1);
    assert.equal(c.get('a'), null, 'a cached null is a hit');
    assert.equal(c.get('x'), undefined);
    assert.equal(c.peek('b'), 1);
    assert.deepEqual([c.hits, c.misses], [1, 1]);
    c.set('c', 2);
    assert.equal(c.peek('b'), undefined, 'peeked b was not marked');
  });

  it('updates in place, deletes, resizes and can be disabled', () => {
    const c = new LruCache<number>(4);
    fill(c, ['a', 'b', 'c', 'd']);
    c.set('a', 1);
    assert.equal(c.peek('a'), 1);
    assert.equal(c.size, 4);
    assert.equal(c.delete('b'), true);
    assert.equal(c.delete('b'), false);
    c.resize(1);
    assert.equal(c.size, 1);
    assert.equal(c.max, 1);
    assert.equal(c.peek('a'), 1, 'the updated (marked) entry outlived the others');
    const off = new LruCache<number>(0);
    off.set('x', 1);
    assert.equal(off.size, 0);
  });
});
