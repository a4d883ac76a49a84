import { AdminClientError, UsageError } from '../errors.js';

/** The management commands: `tidegate users|keys|services …` against a running instance's admin API. */
export const MANAGE_COMMANDS = ['users', 'keys', 'services'] as const;

export const MANAGE_HELP = `Managing a running tidegate (its admin API):
  tidegate users add ID [--quota SIZE] [--period none|daily|monthly] [--rate-in RATE] [--rate-out RATE]
                        [--expires DATE] [--disabled] [--body JSON]
  tidegate users list | show ID | rm ID
  tidegate keys add USER [--id KEYID]          prints the new key once
  tidegate keys rm USER KEYID
  tidegate services add NAME --type forward|proxy|gateway --listen HOST:PORT|HOST:auto
                        [--target HOST:PORT ...] [--user ID] [--body JSON]
  tidegate services list | rm NAME

  --admin URL     the admin API (default $TIDEGATE_ADMIN or http://127.0.0.1:9090)
  --token TOKEN   bearer token (default $TIDEGATE_ADMIN_TOKEN)
  --json          print the API's JSON instead of a table`;

interface Options {
  admin: string;
  token: string | null;
  json: boolean;
  /** Flags by name; repeated ones keep every value. */
  flags: Map<string, string[]>;
  positional: string[];
}

const VALUE_FLAGS = new Set([
  'admin', 'token', 'quota', 'period', 'rate-in', 'rate-out', 'expires', 'body', 'id', 'type', 'listen', 'target',
  'user',
]);
const BOOLEAN_FLAGS = new Set(['json', 'disabled']);

export interface ManageIo {
  out(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
}

/** Runs one management command; resolves to the exit code (errors throw UsageError / AdminClientError). */
export async function manage(argv: readonly string[], io: ManageIo): Promise<number> {
  const [noun, verb, ...rest] = argv;
  const o = parseOptions(rest, io.env);
  const api = new AdminClient(o.admin, o.token);
  const print = (body: unknown, table: () => string): void => io.out(o.json ? JSON.stringify(body, null, 2) : table());
  const need = (i: number, what: string): string => {
    const v = o.positional[i];
    if (v === undefined) throw new UsageError(`tidegate ${noun} ${verb}: missing ${what}`);
    return v;
  };
  const seg = encodeURIComponent;
  switch (`${noun} ${verb}`) {
    case 'users add': {
      const body = userBody(need(0, 'the user id'), o);
      const user = await api.call('POST', '/users', body);
      print(user, () => userTable([user]));
      return 0;
    }
    case 'users list': {
      const users = await api.all('/users');
      print(users, () => userTable(users));
      return 0;
    }
    case 'users show': {
      const id = need(0, 'the user id');
      const user = await api.call('GET', `/users/${seg(id)}`);
      const usage = await api.call('GET', `/users/${seg(id)}/usage`);
      print({ user, usage }, () => `${userTable([user])}\n\n${usageTable(usage)}`);
      return 0;
    }
    case 'users rm': {
      const result = await api.call('DELETE', `/users/${seg(need(0, 'the user id'))}`);
      print(result, () => `removed user ${result.deleted} (${result.closed} live connection(s) closed)`);
      return 0;
    }
    case 'keys add': {
      const id = o.flags.get('id')?.[0];
      const key = await api.call('POST', `/users/${seg(need(0, 'the user id'))}/keys`, id === undefined ? {} : { id });
      print(key, () => `key ${key.id} for ${key.user} (shown once, keep it now):\n${key.key}`);
      return 0;
    }
    case 'keys rm': {
      const path = `/users/${seg(need(0, 'the user id'))}/keys/${seg(need(1, 'the key id'))}`;
      const result = await api.call('DELETE', path);
      print(result, () => `revoked key ${result.deleted} of ${result.user}`);
      return 0;
    }
    case 'services add': {
      const service = await api.call('POST', '/services', serviceBody(need(0, 'the service name'), o));
      print(service, () => serviceTable([service]));
      return 0;
    }
    case 'services list': {
      const services = await api.all('/services');
      print(services, () => serviceTable(services));
      return 0;
    }
    case 'services rm': {
      const result = await api.call('DELETE', `/services/${seg(need(0, 'the service name'))}`);
      print(result, () => `removed service ${result.deleted}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "tidegate ${argv.slice(0, 2).join(' ')}"\n\n${MANAGE_HELP}`);
  }
}

function parseOptions(args: readonly string[], env: ManageIo['env']): Options {
  const flags = new Map<string, string[]>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (BOOLEAN_FLAGS.has(name)) {
      flags.set(name, ['true']);
      continue;
    }
    if (!VALUE_FLAGS.has(name)) throw new UsageError(`unknown option --${name}`);
    const value = eq === -1 ? args[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return {
    admin: (flags.get('admin')?.[0] ?? env.TIDEGATE_ADMIN ?? 'http://127.0.0.1:9090').replace(/\/+$/, ''),
    token: flags.get('token')?.[0] ?? env.TIDEGATE_ADMIN_TOKEN ?? null,
    json: flags.has('json'),
    flags,
    positional,
  };
}

function bodyFlag(o: Options): Record<string, unknown> {
  const text = o.flags.get('body')?.[0];
  if (text === undefined) return {};
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`--body must be a JSON object: ${(err as Error).message}`);
  }
}

function userBody(id: string, o: Options): Record<string, unknown> {
  const body: Record<string, unknown> = { ...bodyFlag(o), id };
  const one = (name: string): string | undefined => o.flags.get(name)?.[0];
  if (one('quota') !== undefined) {
    body.quota = { bytes: one('quota'), ...(one('period') ? { period: one('period') } : {}) };
  }
  if (one('rate-in') !== undefined || one('rate-out') !== undefined) {
    body.rate = {
      ...(one('rate-in') ? { in: one('rate-in') } : {}),
      ...(one('rate-out') ? { out: one('rate-out') } : {}),
    };
  }
  if (one('expires') !== undefined) body.expires = one('expires');
  if (o.flags.has('disabled')) body.enabled = false;
  return body;
}

function serviceBody(name: string, o: Options): Record<string, unknown> {
  const body: Record<string, unknown> = { ...bodyFlag(o), name };
  const type = o.flags.get('type')?.[0];
  if (type !== undefined) body.type = type;
  const listen = o.flags.get('listen')?.[0];
  if (listen !== undefined) body.listen = listen;
  const targets = o.flags.get('target');
  if (targets !== undefined) body.targets = targets;
  const user = o.flags.get('user')?.[0];
  if (user !== undefined) body.user = user;
  return body;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- replies are the API's JSON, printed as they come */
type Json = any;

/** A minimal client of the admin API (fetch): errors become AdminClientError with the API's code and issues. */
class AdminClient {
  private readonly base: string;
  private readonly token: string | null;

  constructor(base: string, token: string | null) {
    this.base = base;
    this.token = token;
  }

  async call(method: string, path: string, body?: unknown): Promise<Json> {
    const headers: Record<string, string> = {};
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      res = await fetch(`${this.base}${path}`, { method, headers, body: payload });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new AdminClientError(
        `cannot reach the admin API at ${this.base} (${cause}); is tidegate running? (--admin URL)`, 0,
      );
    }
    const text = await res.text();
    let parsed: Json;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = text;
    }
    if (!res.ok) {
      const e = parsed?.error;
      const issue = (i: Json): string => `  ${i.path ? `${i.path}: ` : ''}${i.message}`;
      const lines = Array.isArray(e?.issues) ? e.issues.map(issue) : [];
      const head = `${method} ${path}: ${res.status} ${e?.code ?? ''} ${e?.message ?? text}`.replace(/ +/g, ' ');
      throw new AdminClientError([head, ...lines].join('\n'), res.status);
    }
    return parsed;
  }

  /** Every item of a paginated list. */
  async all(path: string): Promise<Json[]> {
    const items: Json[] = [];
    let cursor: string | null = null;
    do {
      const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const page: Json = await this.call('GET', `${path}?limit=1000${after}`);
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== null);
    return items;
  }
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

function size(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)}${units[u]}`;
}

function userTable(users: readonly Json[]): string {
  return table(['ID', 'ORIGIN', 'ENABLED', 'QUOTA', 'PERIOD', 'EXPIRES', 'KEYS'], users.map((u) => [
    u.id,
    u.origin,
    u.config.enabled ? 'yes' : 'no',
    size(u.config.quota?.bytes),
    u.config.quota?.period ?? '-',
    u.config.expiresAt ? new Date(u.config.expiresAt).toISOString().slice(0, 10) : '-',
    String(u.config.keys.length + u.issuedKeys.length),
  ]));
}

function usageTable(usage: Json): string {
  const q = usage.quota;
  const row = (name: string, c: Json): string[] => [
    name, size(c.bytesIn), size(c.bytesOut), String(c.connections), String(c.requests),
  ];
  const counters = table(
    ['', 'IN', 'OUT', 'CONNECTIONS', 'REQUESTS'], [row('live', usage.live), row('durable', usage.durable)],
  );
  if (!q) return counters;
  const used = `${size(q.used)} of ${size(q.bytes)} used this period (${q.currentPeriod})`;
  return `${counters}\nquota: ${used}, ${size(q.remaining)} left`;
}

function serviceTable(services: readonly Json[]): string {
  return table(['NAME', 'TYPE', 'ORIGIN', 'LISTEN', 'STATE', 'LIVE'], services.map((s) => [
    s.name,
    s.type,
    s.origin,
    s.status?.listen ?? '-',
    s.status?.state ?? 'not running',
    String(s.status?.connections.live ?? 0),
  ]));
}
