// The admin API's JSON shapes: the server's own declarations (src/contracts/admin-api.ts, types only), so the
// dashboard and the handlers cannot drift apart.
export type {
  LiveEvent, Page, RequestRow, ServiceItem, ServiceStatus, StatsSample, StatusBody, UsageBody, UserItem,
} from '../../src/contracts/admin-api.js';
