/** Fields that concern one connection only (RFC 9110 §7.6.1), never forwarded; Connection may name more. */
const HOP_BY_HOP = new Set([
  'connection', 'proxy-connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-authorization',
  'proxy-authenticate', 'host',
]);

/**
 * A message's raw fields (`rawHeaders`: name, value, name, value …) without the hop-by-hop ones and those its
 * Connection fields name; `host` is left out too (the caller sets the URI's). `keepUpgrade` keeps Upgrade and a
 * `Connection: upgrade` (a WebSocket handshake passes them on). Transfer-Encoding stays: Node re-frames the body
 * it decoded with it.
 */
export function endToEndFields(raw: readonly string[], keepUpgrade: boolean): string[] {
  let named: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 10 && name.length !== 16) continue;
    const lower = name.toLowerCase();
    if (lower !== 'connection' && lower !== 'proxy-connection') continue;
    for (const token of raw[i + 1]!.split(',')) {
      const t = token.trim().toLowerCase();
      if (t !== '') (named ??= new Set()).add(t);
    }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (keepUpgrade && lower === 'upgrade') {
      out.push(name, raw[i + 1]!);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || (named !== null && named.has(lower))) continue;
    out.push(name, raw[i + 1]!);
  }
  if (keepUpgrade) out.push('Connection', 'Upgrade');
  return out;
}
