import { readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

/** Where `npm run build` puts the dashboard (dist/ui, beside dist/src). */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

/** The URL prefix the dashboard is served under. */
export const UI_PREFIX = '/ui/';

/**
 * The dashboard's page may run its own scripts and styles only, talk to this server only, and never be framed.
 * CSSOM writes (element.style, which Preact and uPlot use) are not inline styles to CSP.
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
  + "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  json: 'application/json; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  woff2: 'font/woff2',
  txt: 'text/plain; charset=utf-8',
};

interface StaticFile {
  readonly body: Buffer;
  /** The gzipped body; null when gzip does not make it smaller. */
  readonly gzipped: Buffer | null;
  readonly type: string;
  readonly etag: string;
  readonly cacheControl: string;
}

/** Every file of the built dashboard, in memory: a request is a map lookup, never a path on the disk. */
export type UiFiles = ReadonlyMap<string, StaticFile>;

const loaded = new Map<string, Promise<UiFiles>>();

/**
 * The files under `dir` keyed by their URL path (`/ui/assets/x.js`), read and gzipped once per process on the first
 * request (a tidegate nobody opens the dashboard of never reads them). An absent dir is an empty set.
 */
export function uiFiles(dir: string): Promise<UiFiles> {
  let files = loaded.get(dir);
  if (files === undefined) {
    files = loadFiles(dir);
    loaded.set(dir, files);
  }
  return files;
}

async function loadFiles(dir: string): Promise<UiFiles> {
  const files = new Map<string, StaticFile>();
  let names: string[];
  try {
    names = (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((d) => d.isFile())
      .map((d) => relative(dir, join(d.parentPath, d.name)));
  } catch {
    return files;
  }
  for (const name of names) {
    const body = await readFile(join(dir, name));
    const ext = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
    const zipped = await gzipAsync(body, { level: 9 });
    const url = UI_PREFIX + name.split(sep).join('/');
    // Vite names assets by content hash: they never change under one name, so browsers may keep them for good.
    const hashed = url.startsWith(`${UI_PREFIX}assets/`);
    files.set(url, {
      body,
      gzipped: zipped.length < body.length ? zipped : null,
      type: TYPES[ext] ?? 'application/octet-stream',
      etag: `"${body.length.toString(16)}-${hashOf(body)}"`,
      cacheControl: hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
  }
  return files;
}

/** FNV-1a over the bytes: an ETag, not a security property. */
function hashOf(body: Buffer): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < body.length; i++) h = Math.imul(h ^ body[i]!, 0x01000193);
  return (h >>> 0).toString(16);
}

/** True for the paths the dashboard answers: `/ui` and everything under `/ui/`. */
export function isUiPath(path: string): boolean {
  return path === '/ui' || path.startsWith(UI_PREFIX);
}

/**
 * Answers a GET or HEAD under /ui/. No token is needed: the files are the same for everyone and hold no data; every
 * API call the page makes carries the bearer token and is checked like any other. Returns false when the path is
 * not a dashboard file (the caller answers 404).
 */
export function serveUiFile(files: UiFiles, path: string, req: IncomingMessage, res: ServerResponse): boolean {
  if (path === '/ui') {
    res.writeHead(308, { location: UI_PREFIX, 'content-length': 0 });
    res.end();
    return true;
  }
  const file = files.get(path === UI_PREFIX ? `${UI_PREFIX}index.html` : path);
  if (file === undefined) return false;
  const headers: Record<string, string | number> = {
    'content-type': file.type,
    'cache-control': file.cacheControl,
    etag: file.etag,
    vary: 'accept-encoding',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
  if (file.type.startsWith('text/html')) {
    headers['content-security-policy'] = CSP;
    headers['x-frame-options'] = 'DENY';
  }
  if (req.headers['if-none-match'] === file.etag) {
    res.writeHead(304, headers);
    res.end();
    return true;
  }
  const accept = req.headers['accept-encoding'];
  const zipped = file.gzipped !== null && typeof accept === 'string' && /\bgzip\b/.test(accept);
  const body = zipped ? file.gzipped! : file.body;
  if (zipped) headers['content-encoding'] = 'gzip';
  headers['content-length'] = body.length;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
