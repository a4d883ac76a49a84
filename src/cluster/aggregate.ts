import type { ServiceState, ServiceStatus } from '../contracts/service-status.js';

const STATE_RANK: Record<ServiceState, number> = { running: 4, starting: 3, draining: 2, failed: 1, stopped: 0 };

/**
 * Services as one process would report them: the same service (name and address) in every worker summed
 * (connections, bytes), the most alive state, and the detail of the first worker that reported it (targets, channels
 * and breakers are each worker's own view; `GET /workers` has every worker's counts).
 */
export function sumServices(perWorker: readonly (readonly ServiceStatus[])[]): ServiceStatus[] {
  const merged = new Map<string, ServiceStatus>();
  for (const services of perWorker) {
    for (const s of services) {
      const key = `${s.name}\u0000${s.listen}\u0000${s.state === 'draining' ? 'd' : ''}`;
      const prev = merged.get(key);
      if (prev === undefined) {
        merged.set(key, s);
        continue;
      }
      merged.set(key, {
        ...prev,
        state: STATE_RANK[s.state] > STATE_RANK[prev.state] ? s.state : prev.state,
        connections: {
          live: prev.connections.live + s.connections.live,
          total: prev.connections.total + s.connections.total,
          refused: prev.connections.refused + s.connections.refused,
        },
        bytes: { in: prev.bytes.in + s.bytes.in, out: prev.bytes.out + s.bytes.out },
      });
    }
  }
  return [...merged.values()];
}
