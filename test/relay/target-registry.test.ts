import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TargetPool } from '../../src/relay/target-pool.js';
import { TargetRegistry } from '../../src/relay/target-registry.js';

const A = { host: '127.0.0.1', port: 1001 };
const B = { host: '127.0.0.1', port: 1002 };

function pool(registry: TargetRegistry, service: string, ...addresses: { host: string; port: number }[]): TargetPool {
  return new TargetPool(service, addresses, 'least-connections', 1_000, 1_000, registry);
}

describe('target registry', () => {
  it('gives every pool of a service the same target for an address while a pool lists it or a relay holds it', () => {
    const registry = new TargetRegistry();
    const first = pool(registry, 'fwd', A);
    const a = first.targets[0]!;
    a.live = 3;
    const second = pool(registry, 'fwd', B);
    first.close();
    assert.equal(registry.size, 2, 'A is unlisted but still held by relays');
    const third = pool(registry, 'fwd', A, B);
    second.close();
    assert.equal(third.targets[0], a, 'A -> B -> A: the same object, live count and all');
    assert.equal(third.targets[0]!.live, 3);
    assert.equal(pool(registry, 'other', A).targets[0]!.live, 0, 'another service has its own target at that address');
  });

  it('forgets a target once no pool lists it and its last relay is gone', () => {
    const registry = new TargetRegistry();
    const first = pool(registry, 'fwd', A, B);
    first.targets[0]!.live = 1;
    const second = pool(registry, 'fwd', B);
    first.close();
    assert.equal(registry.size, 2);
    first.targets[0]!.live = 0;
    const third = pool(registry, 'fwd', B);
    second.close();
    assert.equal(registry.size, 1, 'A went at the next pool change');
    third.close();
    third.close();
    assert.equal(registry.size, 0, 'closing twice releases once');
  });
});
