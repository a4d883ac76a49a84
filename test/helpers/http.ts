import { request } from 'undici';

/** A parsed JSON value as assertions read it: indexed by path, whatever its shape (the harness's one `any`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;
export type JsonObject = Record<string, Json>;

/** An HTTP client for tests: one request, the whole answer read. */
export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json<T = JsonObject>(): T;
}

/** POSTs JSON (or raw bytes) and reads the whole answer. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const res = await request(url, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: payload,
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await request(url, { method: 'GET', headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** GET `path` of a `host:port` address; `body` is the parsed JSON, or null for a text answer. */
export async function getJson(address: string, path: string): Promise<{ status: number; body: Json; text: string }> {
  const { status, text } = await get(`http://${address}${path}`);
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    /* text endpoints */
  }
  return { status, body, text };
}
