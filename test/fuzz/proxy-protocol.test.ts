import assert from 'node:assert/strict';
import { it } from 'node:test';
import { encodeProxyHeader } from '../../src/origin/proxy-protocol/encode.js';
import {
  parseProxyHeader, PP_MORE, ProxyHeader, V2_SIGNATURE, type ParseOutcome,
} from '../../src/origin/proxy-protocol/parse.js';
import { mutate } from './mutate.js';
import { Rng } from './rng.js';

type Verdict = 'ok' | 'incomplete' | 'invalid';

/** Inputs longer than a v2 header with room for a payload are cut here: every prefix of each is parsed. */
const MAX_INPUT = 700;

function verdictOf(outcome: ParseOutcome): Verdict {
  if (outcome instanceof ProxyHeader) return 'ok';
  if (outcome === PP_MORE) return 'incomplete';
  assert.equal(typeof outcome.malformed, 'string');
  assert.ok(outcome.malformed.length > 0);
  return 'invalid';
}

/** What a complete header said, to compare two parses. */
function fields(h: ProxyHeader): unknown[] {
  return [h.version, h.sourceAddress, h.sourcePort, h.destinationAddress, h.destinationPort, h.length];
}

/**
 * Parses `input` whole and cut at every byte, each time as a view into a larger buffer whose bytes past the cut are
 * random: the parser must never throw, must classify every prefix, and must only read what it was given. So a
 * header is complete at exactly one length L (before it, incomplete; from it on, the same header whatever follows),
 * and a prefix judged invalid stays invalid however it goes on.
 */
function checkEveryPrefix(rng: Rng, input: Buffer, seen: Record<Verdict, number>): void {
  const backing = Buffer.concat([input, rng.bytes(64)]);
  const whole = parseProxyHeader(backing.subarray(0, input.length));
  const wholeVerdict = verdictOf(whole);
  seen[wholeVerdict]++;
  let completeAt = -1;
  let invalidAt = -1;
  for (let k = 0; k <= input.length; k++) {
    // Scribble over what lies past the cut: a parser that read it would answer differently.
    backing.fill(rng.int(256), k);
    input.copy(backing, 0, 0, k);
    let outcome: ParseOutcome;
    try {
      outcome = parseProxyHeader(backing.subarray(0, k));
    } catch (err) {
      assert.fail(`parse threw on ${k} bytes of ${input.toString('hex')}: ${(err as Error).message}`);
    }
    const verdict = verdictOf(outcome);
    if (verdict === 'ok') {
      const header = outcome as ProxyHeader;
      assert.ok(header.length > 0 && header.length <= k, `a header of ${header.length} bytes in ${k}`);
      if (completeAt === -1) completeAt = header.length;
      assert.equal(header.length, completeAt, 'the header ends where it first ended');
      assert.ok(whole instanceof ProxyHeader, 'a complete prefix makes a complete whole');
      assert.deepEqual(fields(header), fields(whole));
    } else if (verdict === 'invalid') {
      if (invalidAt === -1) invalidAt = k;
      assert.equal(wholeVerdict, 'invalid', `invalid at ${k} bytes, ${wholeVerdict} whole`);
    } else {
      assert.equal(completeAt, -1, `incomplete at ${k} bytes after a header complete at ${completeAt}`);
      assert.equal(invalidAt, -1, `incomplete at ${k} bytes after invalid at ${invalidAt}`);
    }
  }
}

function randomV4(rng: Rng): string {
  return Array.from({ length: 4 }, () => rng.int(256)).join('.');
}

function randomV6(rng: Rng): string {
  const groups = Array.from({ length: 8 }, () => (rng.chance(0.3) ? 0 : rng.int(0x10000)).toString(16));
  if (rng.chance(0.2)) return `::ffff:${randomV4(rng)}`;
  return groups.join(':');
}

/** A well-formed header (both versions, every command and family), sometimes with TLVs, then a payload. */
function validInput(rng: Rng): Buffer {
  const payload = rng.bytes(rng.int(40));
  const kind = rng.int(6);
  if (kind <= 1) {
    const v4 = kind === 0;
    const src = v4 ? randomV4(rng) : randomV6(rng);
    const dst = v4 ? randomV4(rng) : randomV6(rng);
    return Buffer.concat([encodeProxyHeader('v1', src, rng.int(65536), dst, rng.int(65536)), payload]);
  }
  if (kind === 2) return Buffer.concat([Buffer.from('PROXY UNKNOWN junk after is allowed\r\n'), payload]);
  if (kind === 3) {
    const v4 = rng.chance(0.5);
    const src = v4 ? randomV4(rng) : randomV6(rng);
    const dst = v4 ? randomV4(rng) : randomV6(rng);
    return Buffer.concat([encodeProxyHeader('v2', src, rng.int(65536), dst, rng.int(65536)), payload]);
  }
  // v2 by hand: LOCAL, AF_UNSPEC or AF_UNIX, or PROXY over IPv4 with TLVs after the addresses.
  const head = Buffer.alloc(16);
  V2_SIGNATURE.copy(head, 0);
  const shape = rng.int(3);
  head[12] = shape === 0 ? 0x20 : 0x21;
  head[13] = shape === 0 ? 0x00 : shape === 1 ? 0x31 : 0x11;
  const body = shape === 1 ? rng.bytes(216) : shape === 2 ? rng.bytes(12 + rng.int(200)) : rng.bytes(rng.int(30));
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body, payload]);
}

it('PROXY v1/v2 parser: random, valid and mutated headers cut at every byte never throw, never read past the '
  + 'buffer, and are each ok, incomplete or invalid', () => {
  const rng = new Rng(23_2026);
  const seen: Record<Verdict, number> = { ok: 0, incomplete: 0, invalid: 0 };
  for (let i = 0; i < 1_500; i++) {
    const valid = validInput(rng);
    checkEveryPrefix(rng, valid, seen);
    checkEveryPrefix(rng, mutate(rng, valid, MAX_INPUT), seen);
    // Random bytes, half of them behind a real prefix so they get past the first check.
    const start = rng.pick([Buffer.alloc(0), Buffer.from('PROXY '), V2_SIGNATURE, Buffer.from('PROXY TCP4 ')]);
    checkEveryPrefix(rng, Buffer.concat([start, rng.bytes(rng.int(120))]), seen);
  }
  // Every class is reached, and most mutated headers are caught as invalid.
  assert.ok(seen.ok > 1_000 && seen.incomplete > 0 && seen.invalid > 1_000, JSON.stringify(seen));
});

it('PROXY encoder: what it writes parses back to the same addresses (v1 and v2, IPv4, IPv6, 4-in-6)', () => {
  const rng = new Rng(7_2026);
  for (let i = 0; i < 5_000; i++) {
    const version = rng.chance(0.5) ? 'v1' : 'v2';
    const v4 = rng.chance(0.5);
    const src = v4 ? randomV4(rng) : randomV6(rng);
    const dst = v4 ? randomV4(rng) : randomV6(rng);
    const sport = rng.int(65536);
    const dport = rng.int(65536);
    const bytes = encodeProxyHeader(version, src, sport, dst, dport);
    const header = parseProxyHeader(bytes);
    assert.ok(header instanceof ProxyHeader, `${version} ${src} ${dst}: ${JSON.stringify(header)}`);
    assert.equal(header.length, bytes.length);
    assert.deepEqual([header.sourcePort, header.destinationPort], [sport, dport]);
    // The parsed addresses encode to the same bytes: the same addresses, whatever their spelling.
    const again = encodeProxyHeader(version, header.sourceAddress!, sport, header.destinationAddress!, dport);
    assert.ok(again.equals(bytes), `${version} ${src} ${dst}: ${bytes.toString('hex')} vs ${again.toString('hex')}`);
    if (v4 || (src.startsWith('::ffff:') && dst.startsWith('::ffff:'))) {
      assert.equal(header.sourceAddress, src.replace('::ffff:', ''));
    }
  }
});
