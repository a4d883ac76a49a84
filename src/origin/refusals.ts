/**
 * Connections (and, on a gateway, requests) a service turned away before serving them, by reason. Fixed keys, the
 * same on every service type: a stable `/status` `detail.refusedBy` shape and `tidegate_service_refusals_total`.
 */
export class Refusals {
  per_ip_connections = 0;
  per_ip_connect_rate = 0;
  /** Gateway requests over `perIp.rate`; a relay's byte rate throttles and never refuses. */
  per_ip_rate = 0;
  proxy_untrusted = 0;
  proxy_malformed = 0;
  proxy_timeout = 0;
}
