// The admin API, the dashboard's only data source. The token travels in the Authorization header only (no cookies:
// nothing another site can make the browser send for us), and lives in sessionStorage (gone with the tab).

const TOKEN_KEY = 'tidegate.token';

export type Role = 'read' | 'write';

export interface ApiIssue {
  readonly path: string;
  readonly message: string;
}

/** A non-2xx answer: the API's `{ error: { code, message, issues? } }`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly issues: readonly ApiIssue[];

  constructor(status: number, code: string, message: string, issues: readonly ApiIssue[]) {
    super(message);
    this.status = status;
    this.code = code;
    this.issues = issues;
  }
}

export interface Answer<T> {
  readonly body: T;
  readonly etag: string | null;
}

export function savedToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function saveToken(token: string): void {
  if (token === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

export class Api {
  readonly token: string;

  constructor(token: string) {
    this.token = token;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token === '' ? extra : { authorization: `Bearer ${this.token}`, ...extra };
  }

  async call<T>(
    method: string, path: string, body?: unknown, headers: Record<string, string> = {},
  ): Promise<Answer<T>> {
    const res = await fetch(path, {
      method,
      headers: this.headers(body === undefined ? headers : { 'content-type': 'application/json', ...headers }),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
    const text = await res.text();
    let parsed: unknown = null;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (!res.ok) {
      const error = (parsed as { error?: { code?: string; message?: string; issues?: ApiIssue[] } } | null)?.error;
      throw new ApiError(res.status, error?.code ?? `HTTP_${res.status}`, error?.message ?? res.statusText,
        error?.issues ?? []);
    }
    return { body: parsed as T, etag: res.headers.get('etag') };
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path).then((a) => a.body);
  }

  /**
   * Follows a server-sent event stream (fetch, so the bearer header goes with it; EventSource cannot send one).
   * Reconnects after a drop with a growing pause (1 s up to 15 s), never in a tight loop. Returns the stop function.
   */
  follow(path: string, onEvent: (type: string, data: unknown) => void, onState: (up: boolean) => void): () => void {
    let stopped = false;
    let controller: AbortController | null = null;
    let pause = 1_000;
    const headers = this.headers({ accept: 'text/event-stream' });
    const run = async (): Promise<void> => {
      while (!stopped) {
        controller = new AbortController();
        try {
          const res = await fetch(path, { headers, signal: controller.signal, cache: 'no-store', credentials: 'omit' });
          if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`);
          onState(true);
          pause = 1_000;
          await readFrames(res.body, onEvent);
        } catch {
          /* dropped or refused: wait, then try again */
        }
        if (stopped) return;
        onState(false);
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 15_000);
      }
    };
    void run();
    return () => {
      stopped = true;
      controller?.abort();
    };
  }
}

async function readFrames(body: ReadableStream<Uint8Array>, onEvent: (type: string, data: unknown) => void) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      let data = '';
      for (const line of frame.split('\n')) {
        if (line.startsWith('event: ')) type = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data === '') continue;
      try {
        onEvent(type, JSON.parse(data));
      } catch {
        /* a frame that is not JSON is not ours */
      }
    }
  }
}
