import type { AdminRoute } from '../admin/server.js';

interface RoutesHost {
  status(): unknown;
  restartAll(): Promise<void>;
}

/** `GET /workers` and `POST /workers/restart` (the rolling restart; also SIGUSR2). */
export function workerRoutes(fleet: RoutesHost): AdminRoute[] {
  return [
    {
      method: 'GET', path: '/workers', doc: { summary: 'Worker processes: state, pid, restarts, crashes, connections' },
      handle: () => ({ status: 200, body: fleet.status() }),
    },
    {
      method: 'POST',
      path: '/workers/restart',
      doc: { summary: 'Rolling restart: replaces the workers one at a time, each draining its connections' },
      async handle() {
        await fleet.restartAll();
        return { status: 200, body: fleet.status() };
      },
    },
  ];
}
