import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RelayTable } from '../../src/relay/native/relay-table.js';

describe('native RelayTable', () => {
  it('hands out distinct ids to live entries and reuses an id only after it was deleted', () => {
    const table = new RelayTable<string>();
    const ids = ['a', 'b', 'c'].map((name) => {
      const id = table.nextId();
      table.set(id, name);
      return id;
    });
    assert.equal(new Set(ids).size, 3);
    assert.ok(ids.every((id) => id > 0), 'id 0 is never used');
    assert.equal(table.size, 3);
    assert.equal(table.get(ids[1]!), 'b');
    table.delete(ids[1]!);
    table.delete(ids[1]!);
    assert.equal(table.size, 2, 'a second delete of the same id changes nothing');
    assert.equal(table.get(ids[1]!), undefined);
    const reused = table.nextId();
    assert.equal(reused, ids[1]);
    table.set(reused, 'd');
    assert.deepEqual(table.values().sort(), ['a', 'c', 'd']);
    assert.equal(table.get(12345), undefined);
  });
});
