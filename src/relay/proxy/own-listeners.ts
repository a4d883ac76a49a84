import { networkInterfaces } from 'node:os';
import type { OwnListenerSet } from '../../contracts/own-listeners.js';
import { parseIp, type IpKey } from '../../util/ip.js';
import type { HostPort } from '../../util/address.js';

/** The addresses bound on one port; `wildcard` when one of them is 0.0.0.0 or :: (every local address). */
interface PortListeners {
  wildcard: boolean;
  readonly v4: Set<number>;
  readonly v6: Set<string>;
}

/**
 * Every address:port tidegate itself listens on (all services and the admin API), published by the runtime after
 * each start and reload, so proxy services refuse to dial back into tidegate. A wildcard listener stands for every
 * local address: loopback, unspecified and the interfaces' addresses (read once per publish, not per connection).
 */
export class OwnListeners implements OwnListenerSet {
  private ports = new Map<number, PortListeners>();
  private localV4 = new Set<number>();
  private localV6 = new Set<string>();

  /** Replaces the set; `addresses` are bound addresses (ports resolved, no host names). */
  publish(addresses: readonly HostPort[]): void {
    const ports = new Map<number, PortListeners>();
    let wildcard = false;
    for (const { host, port } of addresses) {
      const key = parseIp(host);
      if (key === null) continue;
      let entry = ports.get(port);
      if (entry === undefined) ports.set(port, (entry = { wildcard: false, v4: new Set(), v6: new Set() }));
      if (isUnspecified(key)) entry.wildcard = wildcard = true;
      else if (key.v === 4) entry.v4.add(key.n);
      else entry.v6.add(key.hex);
    }
    if (wildcard) this.readLocalAddresses();
    this.ports = ports;
  }

  /** True when tidegate listens on this address and port. */
  has(key: IpKey, port: number): boolean {
    const entry = this.ports.get(port);
    if (entry === undefined) return false;
    if (key.v === 4 ? entry.v4.has(key.n) : entry.v6.has(key.hex)) return true;
    return entry.wildcard && this.isLocal(key);
  }

  /** Any port at all on this address? (cheap pre-check: most destinations' ports are not ours) */
  hasPort(port: number): boolean {
    return this.ports.has(port);
  }

  private isLocal(key: IpKey): boolean {
    if (isUnspecified(key)) return true;
    if (key.v === 4) return key.n >>> 24 === 127 || this.localV4.has(key.n);
    return key.hex === V6_LOOPBACK || this.localV6.has(key.hex);
  }

  private readLocalAddresses(): void {
    const v4 = new Set<number>();
    const v6 = new Set<string>();
    for (const list of Object.values(networkInterfaces())) {
      for (const info of list ?? []) {
        const key = parseIp(info.address);
        if (key === null) continue;
        if (key.v === 4) v4.add(key.n);
        else v6.add(key.hex);
      }
    }
    this.localV4 = v4;
    this.localV6 = v6;
  }
}

const V6_LOOPBACK = `${'0'.repeat(31)}1`;
const V6_UNSPECIFIED = '0'.repeat(32);

function isUnspecified(key: IpKey): boolean {
  return key.v === 4 ? key.n === 0 : key.hex === V6_UNSPECIFIED;
}
