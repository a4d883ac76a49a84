import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';

/** Names from a hosts file: lower-case name → its addresses, in file order. */
export type HostsTable = ReadonlyMap<string, readonly string[]>;

/** Reads and parses a hosts file asynchronously; a missing or unreadable file is an empty table. */
export async function readHostsFile(path: string | null): Promise<HostsTable> {
  if (path === null) return new Map();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return new Map();
  }
  return parseHosts(text);
}

/** `address name [aliases…]` lines; `#` starts a comment; lines with a bad address are skipped. */
export function parseHosts(text: string): HostsTable {
  const table = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const hash = raw.indexOf('#');
    const fields = (hash === -1 ? raw : raw.slice(0, hash)).trim().split(/\s+/);
    if (fields.length < 2) continue;
    // Zone ids (fe80::1%eth0) are kept: net.connect takes them.
    const address = fields[0]!;
    if (isIP(address.split('%')[0]!) === 0) continue;
    for (let i = 1; i < fields.length; i++) {
      const name = fields[i]!.toLowerCase();
      const list = table.get(name);
      if (list === undefined) table.set(name, [address]);
      else if (!list.includes(address)) list.push(address);
    }
  }
  return table;
}
