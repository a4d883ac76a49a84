import type { GatewayUsageRecord, RelayRecord } from './records.js';

/** Where services report what they did; the runtime fans it out to accounting and the logs. */
export interface ServiceEvents {
  relayClosed(record: RelayRecord): void;
  /** One finished gateway request, with its user and token counts (optional: older runtimes lack it). */
  gatewayRequest?(record: GatewayUsageRecord): void;
}
