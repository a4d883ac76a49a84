import type { IpKey } from '../util/ip.js';

/** Every address:port tidegate listens on, as proxy services ask it (the relay's `OwnListeners` implements it). */
export interface OwnListenerSet {
  /** True when tidegate listens on this address and port (a wildcard listener counts for every local address). */
  has(key: IpKey, port: number): boolean;
  /** Any port at all on this address? (cheap pre-check: most destinations' ports are not ours) */
  hasPort(port: number): boolean;
}
