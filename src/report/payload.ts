import type { ReportBatch } from '../store/report-outbox.js';

/**
 * The body of a pushed report. `tidegate`: the batch as it is, sequence number first. `gost`: GOST's observer
 * event shape (`{"events":[{"kind":"service"|"handler","service":…,"client":…,"type":"stats","stats":{…}}]}`),
 * services as `service` events and users as `handler` events with the user as `client`; the stats are the deltas
 * of this batch (GOST's observer with traffic reset), and the sequence number goes in the `X-Tidegate-Seq` header.
 */
export function reportPayload(batch: ReportBatch, format: 'tidegate' | 'gost'): unknown {
  if (format === 'tidegate') {
    const pick = (kind: 'user' | 'service') => batch.rows.filter((r) => r.kind === kind).map((r) => ({
      id: r.subject, bytesIn: r.bytesIn, bytesOut: r.bytesOut, connections: r.connections, requests: r.requests,
      tokens: r.tokens,
    }));
    return {
      seq: batch.seq,
      since: new Date(batch.since).toISOString(),
      until: new Date(batch.createdAt).toISOString(),
      users: pick('user'),
      services: pick('service'),
    };
  }
  return {
    events: batch.rows.map((r) => ({
      kind: r.kind === 'service' ? 'service' : 'handler',
      service: r.kind === 'service' ? r.subject : '',
      ...(r.kind === 'user' ? { client: r.subject } : {}),
      type: 'stats',
      stats: {
        totalConns: r.connections, currentConns: 0, inputBytes: r.bytesIn, outputBytes: r.bytesOut, totalErrs: 0,
      },
    })),
  };
}
