import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sameSettings } from '../../src/config/diff.js';
import { withService, withUser } from '../../src/config/item-change.js';
import { validateConfig, type Config } from '../../src/config/schema.js';
import { ConfigError, type ConfigIssue } from '../../src/errors.js';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

/** A config with every kind of reference across items: keys, key hashes, logins, a cost budget, service users. */
function baseDoc(): Record<string, unknown> {
  return {
    admin: { listen: '127.0.0.1:0', token: 't' },
    store: { sqlite: 'off' },
    prices: { '*': { input: 1, output: 2, currency: 'USD' } },
    users: [
      {
        id: 'ann', keys: ['key-ann'], keyHashes: [{ id: 'k1', sha256: SHA_A }],
        proxy: { username: 'ann', password: 'p' },
      },
      { id: 'ben', quota: { cost: '5USD', timezone: 'Asia/Shanghai', period: 'monthly' } },
      { id: 'cal', rate: { in: '1MiB/s' } },
    ],
    services: [
      { name: 'fwd', type: 'forward', listen: '127.0.0.1:7001', user: 'ben', targets: ['127.0.0.1:9'] },
      { name: 'socks', type: 'proxy', listen: '127.0.0.1:7002', auth: 'users' },
    ],
  };
}

type Outcome = { config: Config } | { issues: ConfigIssue[] };

function outcome(fn: () => Config): Outcome {
  try {
    return { config: fn() };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { issues: [...err.issues].sort((a, b) => (a.path + a.message).localeCompare(b.path + b.message)) };
  }
}

/** The document with `section[at]` replaced by `doc` (at = length: appended; doc null: removed). */
function changed(section: 'users' | 'services', at: number, doc: Record<string, unknown> | null) {
  const whole = baseDoc();
  const list = [...(whole[section] as unknown[])];
  if (doc === null) list.splice(at, 1);
  else list[at] = doc;
  whole[section] = list;
  return whole;
}

function same(a: Outcome, b: Outcome, what: string): void {
  if ('config' in a && 'config' in b) {
    assert.ok(sameSettings(a.config, b.config), `${what}: the same config`);
    return;
  }
  assert.deepEqual(b, a, what);
}

const base = validateConfig(baseDoc());
/** The cases that are valid changes; every other one must be refused (so no case compares two trivial answers). */
const VALID = new Set([
  'a new user', 'a new user with ports and a login', 'a changed user in the middle', 'a removed user no service names',
  'a new key hash on a user', 'a new forward', 'a new gateway', 'a changed service', 'a removed service',
]);

/** Each case: what the change is, and where. Both validations must agree on the config or on every issue. */
const USER_CASES: [string, number, Record<string, unknown> | null][] = [
  ['a new user', 3, { id: 'dan', keys: ['key-dan'], quota: { bytes: '1GiB' } }],
  ['a new user with ports and a login', 3, {
    id: 'dan', ports: '30000-30009', proxy: { username: 'dan', password: 'x' },
  }],
  ['a changed user in the middle', 1, { id: 'ben', quota: { cost: '9USD' }, enabled: false }],
  ['a removed user no service names', 2, null],
  ['a removed user a service names', 1, null],
  ['the only login removed while a proxy needs one', 0, null],
  ['a duplicate id', 3, { id: 'cal' }],
  ['a key another user has', 3, { id: 'dan', keys: ['key-ann'] }],
  ['a key hash another user has', 3, { id: 'dan', keyHashes: [{ id: 'x', sha256: SHA_A }] }],
  ['a login another user has', 3, { id: 'dan', proxy: { username: 'ann', password: 'y' } }],
  ['a budget in another currency', 3, { id: 'dan', quota: { cost: '5EUR' } }],
  ['a bad item', 3, { id: 'dan', quota: { bytes: 'lots', timezone: 'Mars/Olympus' }, colour: 'red', ports: '9-1' }],
  ['a new key hash on a user', 0, {
    id: 'ann', keys: ['key-ann'], keyHashes: [{ id: 'k1', sha256: SHA_A }, { id: 'k2', sha256: SHA_B }],
    proxy: { username: 'ann', password: 'p' },
  }],
];

const SERVICE_CASES: [string, number, Record<string, unknown> | null][] = [
  ['a new forward', 2, {
    name: 'f2', type: 'forward', listen: '127.0.0.1:7003', user: 'cal', targets: ['127.0.0.1:9'],
  }],
  ['a new gateway', 2, { name: 'gw', type: 'gateway', listen: '127.0.0.1:7004', channels: [
    { name: 'c', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: ['k'] },
  ] }],
  ['a changed service', 0, { name: 'fwd', type: 'forward', listen: '127.0.0.1:7005', targets: ['127.0.0.1:9'] }],
  ['a removed service', 1, null],
  ['a duplicate name', 2, { name: 'fwd', type: 'forward', listen: '127.0.0.1:7006', targets: ['127.0.0.1:9'] }],
  ['a taken address', 2, { name: 'f3', type: 'forward', listen: '127.0.0.1:7001', targets: ['127.0.0.1:9'] }],
  ['an unknown user', 2, {
    name: 'f4', type: 'forward', listen: '127.0.0.1:7007', user: 'zed', targets: ['127.0.0.1:9'],
  }],
  ['an open proxy', 2, { name: 'open', type: 'proxy', listen: '0.0.0.0:7008' }],
  ['a bad item', 2, { name: 'bad name!', type: 'forward', listen: '80', targets: [] }],
];

describe('one changed item validated alone agrees with the whole config validated', () => {
  for (const [what, at, doc] of USER_CASES) {
    it(`users: ${what}`, () => {
      const id = doc === null ? (baseDoc().users as { id: string }[])[at]!.id : String(doc.id);
      const whole = outcome(() => validateConfig(changed('users', at, doc)));
      const alone = outcome(() => withUser(base, id, doc, at));
      same(whole, alone, what);
      assert.equal('config' in alone, VALID.has(what), JSON.stringify(alone));
      if ('config' in alone) {
        // Users the change did not touch are the very same objects (a reload's diff sees them as unchanged at once).
        for (const u of base.users) {
          if (u.id !== id) assert.equal(alone.config.users.find((x) => x.id === u.id), u);
        }
        assert.ok(Object.isFrozen(alone.config) && Object.isFrozen(alone.config.users));
      }
    });
  }
  for (const [what, at, doc] of SERVICE_CASES) {
    it(`services: ${what}`, () => {
      const whole = outcome(() => validateConfig(changed('services', at, doc)));
      const alone = outcome(() => withService(base, doc, at));
      same(whole, alone, what);
      assert.equal('config' in alone, VALID.has(what), JSON.stringify(alone));
    });
  }
});
