import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CloseReason } from '../../src/contracts/relay-engine.js';
import { loadAddon, type NativeAddon, type NativeEngineBinding } from '../../src/relay/native/binding.js';
import {
  CLOSE_REASONS,
  CloseReasonCode,
  Limit,
  newDialArgs,
  newGrantArgs,
  newRedialArgs,
  newStartArgs,
  PROTOCOL,
  protocolMismatches,
  RECORD_FIELDS,
  RecordField,
} from '../../src/relay/native/protocol.js';
import { skipNative } from './harness.js';

/** The TypeScript mirror (src/relay/native/protocol.ts) against the addon's `protocol` export (native/protocol.h). */

type Table = Readonly<Record<string, number>>;
const tables = PROTOCOL as unknown as Readonly<Record<string, Table>>;

/** Argument tables by the call they describe (disposeArgs serves disposeLimit and disposeBudget). */
const CALLS: ReadonlyArray<readonly [call: string, table: string]> = [
  ['start', 'startArgs'],
  ['dial', 'dialArgs'],
  ['redial', 'redialArgs'],
  ['close', 'closeArgs'],
  ['address', 'addressArgs'],
  ['createLimit', 'createLimitArgs'],
  ['setLimit', 'setLimitArgs'],
  ['setBudget', 'setBudgetArgs'],
  ['disposeLimit', 'disposeArgs'],
  ['disposeBudget', 'disposeArgs'],
  ['listen', 'listenArgs'],
  ['unlisten', 'disposeArgs'],
  ['settleAccepted', 'settleArgs'],
  ['grant', 'grantArgs'],
  ['revokeGrant', 'disposeArgs'],
];

/** A value of the right type for each slot name (fds and ids in range, buffers where buffers go). */
function goodValue(slot: string): unknown {
  if (slot === 'host') return '127.0.0.1';
  if (/^(pending|greeting|farewell|address)/.test(slot)) return Buffer.from('x');
  if (/^(reportConnect|noDelay|countIn|countOut|tuneClient|accepted|shared)$/.test(slot)) return true;
  if (slot === 'id' || slot === 'listenerId') return 1;
  return 0;
}

/** A value of the wrong type for the slot. */
function badValue(slot: string): unknown {
  return slot === 'host' ? 7 : 'seven';
}

describe('native protocol: the TypeScript mirror matches the addon', { skip: skipNative }, () => {
  let addon: NativeAddon;
  let binding: NativeEngineBinding;

  before(() => {
    addon = loadAddon();
    binding = new addon.NativeRelayEngine(() => {}, {});
  });

  after(() => {
    binding.shutdown();
  });

  it('exports the same tables, names and values as the mirror', () => {
    const exported = addon.protocol as unknown as Readonly<Record<string, Table>>;
    assert.deepEqual(Object.keys(exported).sort(), Object.keys(tables).sort(), 'the same tables on both sides');
    for (const name of Object.keys(tables)) {
      assert.deepEqual({ ...exported[name] }, { ...tables[name] }, `table ${name}`);
    }
    assert.deepEqual(protocolMismatches(addon.protocol), []);
  });

  it('reports a changed, a missing and an extra constant by name', () => {
    const exported = addon.protocol as unknown as Readonly<Record<string, Table>>;
    const copy: Record<string, Record<string, number>> = {};
    for (const name of Object.keys(exported)) copy[name] = { ...exported[name] };
    copy['startArgs']!['budgetId'] = 9;
    delete copy['recordCodes']!['connected'];
    copy['closeReasons']!['vanished'] = 7;
    delete copy['limits'];
    assert.deepEqual(protocolMismatches(copy).sort(), [
      'closeReasons.vanished: exported by the addon, missing in the mirror',
      'limits: missing in the addon',
      'recordCodes.connected: missing in the addon',
      'startArgs.budgetId: addon 9, mirror 8',
    ]);
    assert.ok(protocolMismatches(undefined).length === Object.keys(tables).length, 'an addon without protocol');
  });

  it('numbers every call\'s slots 0..n-1, as long as the tuples the engine fills', () => {
    for (const [, name] of CALLS) {
      const slots = Object.values(tables[name]!).sort((a, b) => a - b);
      assert.deepEqual(slots, slots.map((_, i) => i), `${name} slots are contiguous from 0`);
    }
    assert.equal(newStartArgs().length, Object.keys(tables['startArgs']!).length);
    assert.equal(newDialArgs().length, Object.keys(tables['dialArgs']!).length);
    assert.equal(newGrantArgs().length, Object.keys(tables['grantArgs']!).length);
    assert.equal(newRedialArgs().length, Object.keys(tables['redialArgs']!).length);
    assert.equal(RECORD_FIELDS, Object.keys(RecordField).length);
  });

  it('reads close reasons back by code', () => {
    const all: CloseReason[] = [
      'done',
      'client_reset',
      'target_reset',
      'idle_timeout',
      'half_close_timeout',
      'closed',
      'shutdown',
    ];
    assert.deepEqual([...CLOSE_REASONS].sort(), [...all].sort());
    for (const reason of all) assert.equal(CLOSE_REASONS[CloseReasonCode[reason]], reason);
  });

  it('refuses a wrong type in any slot of any call with a TypeError naming the call and the slot', () => {
    for (const [call, name] of CALLS) {
      const slots = Object.entries(tables[name]!).sort((a, b) => a[1] - b[1]);
      for (const [slot, index] of slots) {
        const args = slots.map(([s]) => goodValue(s));
        args[index] = badValue(slot);
        const fn = (binding as unknown as Record<string, (...a: unknown[]) => unknown>)[call]!;
        assert.throws(
          () => fn.apply(binding, args),
          (err: unknown) => err instanceof TypeError && err.message.startsWith(`${call}: ${slot}: expected `),
          `${call}(${slot} = ${String(args[index])})`,
        );
      }
    }
  });

  it('refuses values out of range: a negative fd, an unknown reason, id 0, a timeout past the limit', () => {
    const start = newStartArgs();
    start[0] = 1;
    start[1] = -1;
    const badFd = /^TypeError: start: clientFd: expected an integer in \[0, 2147483647\], got -1$/;
    assert.throws(() => binding.start(...start), badFd);
    assert.throws(() => binding.close(1, 7, null), /^TypeError: close: reason: expected an integer in \[0, 6\], got 7/);
    assert.throws(() => binding.close(0, 0, null), /close: id: expected an integer in \[1, /);
    assert.throws(() => binding.close(1.5, 0, null), /close: id: .* got 1\.5$/);
    const dial = newDialArgs();
    dial[0] = 1;
    dial[1] = 0;
    dial[3] = Limit.maxTimeoutMs + 1;
    assert.throws(() => binding.dial(...dial), /dial: idleTimeoutMs: expected an integer in \[0, 1000000000000\]/);
    assert.throws(() => binding.createLimit(-1, 0), /createLimit: inBytesPerSec: expected a number >= 0, got -1/);
    assert.throws(() => binding.setBudget(1, Number.NaN, true, true), /setBudget: limit: expected a number, got nan/i);
    assert.equal(binding.address('127.0.0.1', 70_000), null, 'a port past 65535 is no address, as before');
    assert.throws(() => binding.settleAccepted(3, 3), /settleAccepted: how: expected an integer in \[0, 2\]/);
    assert.equal(binding.settleAccepted(0, 1), false, 'an fd the addon never accepted is not settled (nor closed)');
  });
});
