import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SlotList } from '../../src/util/slot-list.js';

class Member {
  slot = -1;
  constructor(readonly name: string) {}
}

function names(list: SlotList<Member>): string[] {
  return list.toArray().map((m) => m.name).sort();
}

describe('SlotList', () => {
  it('adds and deletes members, keeping each slot equal to its index', () => {
    const list = new SlotList<Member>('slot');
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => new Member(n)) as [Member, Member, Member, Member];
    for (const m of [a, b, c, d]) list.add(m);
    assert.equal(list.size, 4);
    assert.equal(list.delete(b), true);
    assert.equal(b.slot, -1);
    assert.deepEqual(names(list), ['a', 'c', 'd']);
    for (let i = 0; i < list.size; i++) assert.equal(list.at(i).slot, i);
    assert.equal(list.delete(d), true);
    assert.equal(list.delete(a), true);
    assert.deepEqual(names(list), ['c']);
    assert.equal(c.slot, 0);
  });

  it('ignores a second add, and refuses to delete a non-member or a member of another list', () => {
    const one = new SlotList<Member>('slot');
    const two = new SlotList<Member>('slot');
    const a = new Member('a');
    const b = new Member('b');
    one.add(a);
    one.add(a);
    assert.equal(one.size, 1);
    assert.equal(one.delete(b), false);
    two.add(b);
    one.add(new Member('c'));
    // b's slot (0) is a valid index in `one`, but the member there is a.
    assert.equal(one.delete(b), false);
    assert.deepEqual(names(one), ['a', 'c']);
    assert.equal(one.delete(a), true);
    assert.equal(one.delete(a), false);
  });

  it('lets a backwards walk delete the member it is visiting', () => {
    const list = new SlotList<Member>('slot');
    const members = Array.from({ length: 10 }, (_, i) => new Member(String(i)));
    for (const m of members) list.add(m);
    const visited: string[] = [];
    for (let i = list.size - 1; i >= 0; i--) {
      const m = list.at(i);
      visited.push(m.name);
      if (Number(m.name) % 2 === 0) list.delete(m);
    }
    assert.deepEqual(visited.sort(), members.map((m) => m.name).sort());
    assert.deepEqual(names(list), ['1', '3', '5', '7', '9']);
  });

  it('stays correct through a burst that grows and shrinks its array', () => {
    const list = new SlotList<Member>('slot');
    const members = Array.from({ length: 5000 }, (_, i) => new Member(String(i)));
    for (const m of members) list.add(m);
    for (const m of members.slice(0, 4990)) assert.equal(list.delete(m), true);
    assert.deepEqual(names(list), members.slice(4990).map((m) => m.name).sort());
    for (let i = 0; i < list.size; i++) assert.equal(list.at(i).slot, i);
    for (const m of members.slice(0, 100)) list.add(m);
    assert.equal(list.size, 110);
  });
});
