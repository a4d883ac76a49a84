import { request, type IncomingMessage } from 'node:http';

/** One server-sent event with its JSON data. */
export interface SseEvent<D = Record<string, unknown>> {
  readonly event: string;
  readonly data: D;
}

/** An open event stream: events collected as they arrive, until close(). */
export interface SseFollow<D = Record<string, unknown>> {
  readonly events: SseEvent<D>[];
  readonly res: IncomingMessage;
  close(): void;
}

/** GETs `url` (with a bearer token when given) and collects every `event:`/`data:` frame of the admin streams. */
export function followSse<D = Record<string, unknown>>(url: string, token?: string): Promise<SseFollow<D>> {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const events: SseEvent<D>[] = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) as D });
        }
      });
      resolve({ events, res, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}
