import { createServer } from 'node:net';
import type { Config, PortRange } from '../../config/schema.js';
import { AdminConflictError } from '../../errors.js';
import { formatHostPort } from '../../util/address.js';

const AUTO_RE = /^(.*):auto$/;
/** Ports tried for one `:auto` listen before giving up (a busy range does not turn into a scan of it all). */
const MAX_PORT_TRIES = 512;

/**
 * `listen: "<host>:auto"` becomes the first port free on that host and used by no service, taken from the service
 * user's own `ports:` when it has them, else from `admin.portRange`. Other bodies come back as they are.
 */
export async function resolveAutoListen(
  config: Config, body: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const m = typeof body.listen === 'string' ? AUTO_RE.exec(body.listen) : null;
  if (m === null) return body;
  const host = m[1]!;
  const { range, from } = portsFor(config, body.user);
  const taken = new Set(config.services.map((s) => s.listen.port));
  let tries = 0;
  for (let port = range.from; port <= range.to && tries < MAX_PORT_TRIES; port++) {
    if (taken.has(port)) continue;
    tries++;
    if (await portFree(host, port)) return { ...body, listen: formatHostPort({ host, port }) };
  }
  throw new AdminConflictError(`no free port on ${host} in ${from} ${range.from}-${range.to}`);
}

/** The range an `:auto` listen takes from, and where it is set (for the 409's message). */
function portsFor(config: Config, user: unknown): { range: PortRange; from: string } {
  if (typeof user === 'string') {
    const ports = config.users.find((u) => u.id === user)?.ports ?? null;
    if (ports !== null) return { range: ports, from: `the ports of user "${user}"` };
  }
  return { range: config.admin.portRange, from: 'admin.portRange' };
}

/** Whether `port` on `host` can be bound now (tried and released at once). */
function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}
