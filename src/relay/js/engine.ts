import type { Socket } from 'node:net';
import type { ByteBudget, RateLimit } from '../../contracts/rate.js';
import type { Relay, RelayCloseListener, RelayEngine, RelayOptions } from '../../contracts/relay-engine.js';
import { JsRelay, type RelayRegistry } from './relay.js';
import { JsByteBudget } from './byte-budget.js';
import { JsRateLimit } from './token-bucket.js';
import { SlotList } from '../../util/slot-list.js';

/** The JavaScript relay engine: the reference implementation and the fallback where the addon cannot load. */
export class JsRelayEngine implements RelayEngine, RelayRegistry {
  readonly kind = 'js' as const;
  private readonly live = new SlotList<JsRelay, 'engineSlot'>('engineSlot');
  private nextId = 1;
  private onDrained: (() => void) | null = null;

  get liveCount(): number {
    return this.live.size;
  }

  start(client: Socket, target: Socket, options: RelayOptions, onClose: RelayCloseListener): Relay {
    const relay = new JsRelay(this.nextId++, client, target, options, onClose, this);
    this.live.add(relay);
    relay.start();
    return relay;
  }

  createRateLimit(inBytesPerSec: number, outBytesPerSec: number): RateLimit {
    return new JsRateLimit(inBytesPerSec, outBytesPerSec);
  }

  createByteBudget(): ByteBudget {
    return new JsByteBudget();
  }

  forget(relay: JsRelay): void {
    this.live.delete(relay);
    if (this.live.size === 0 && this.onDrained !== null) this.onDrained();
  }

  async shutdown(): Promise<void> {
    if (this.live.size === 0) return;
    const drained = new Promise<void>((resolve) => {
      this.onDrained = resolve;
    });
    for (const relay of this.live.toArray()) relay.close('shutdown');
    await drained;
    this.onDrained = null;
  }
}
