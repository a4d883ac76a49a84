import type {
  CloseReason, DialAddress, DialingRelay, RelayDialListener,
} from '../../contracts/relay-engine.js';
import type { LiveCount, RelayRoute } from '../tcp-service.js';
import type { Protocol } from './farewells.js';

/** What a direct dial tells its proxy service. */
export interface DirectDialHost {
  /** A relay counted as direct ended without reaching its destination. */
  directUnconnected(): void;
  /** Every address failed: log it and answer the client in its protocol. */
  directFailed(relay: DialingRelay, protocol: Protocol, target: string, err: NodeJS.ErrnoException): void;
}

/**
 * A direct destination dialed by the engine: its record's route, and what it does when a connect fails: the next of
 * the name's other checked addresses is dialled, one after another; after the last the client gets the failure.
 */
export class DirectDial implements RelayRoute, RelayDialListener {
  readonly targetLabel: string;
  readonly liveCount: LiveCount | null = null;
  readonly unconnectedTargetLabel: string;
  private readonly host: DirectDialHost;
  private readonly protocol: Protocol;
  private readonly fallbacks: readonly DialAddress[];
  private next = 0;
  private failed = false;

  constructor(host: DirectDialHost, protocol: Protocol, target: string, fallbacks: readonly DialAddress[]) {
    this.host = host;
    this.protocol = protocol;
    this.targetLabel = `${target} direct`;
    this.unconnectedTargetLabel = target;
    this.fallbacks = fallbacks;
  }

  unconnectedReason(reason: CloseReason): string {
    this.host.directUnconnected();
    if (this.failed) return 'upstream_unavailable';
    return reason === 'client_reset' ? 'client_gone' : reason;
  }

  connected(): void {}

  connectFailed(relay: DialingRelay, err: Error): void {
    if (this.next < this.fallbacks.length) {
      relay.redial(this.fallbacks[this.next++]!, this.unconnectedTargetLabel, false);
      return;
    }
    this.failed = true;
    this.host.directFailed(relay, this.protocol, this.unconnectedTargetLabel, err as NodeJS.ErrnoException);
  }
}
