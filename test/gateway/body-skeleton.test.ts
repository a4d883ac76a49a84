import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeRequest } from '../../src/dialects/summarize.js';
import { DIALECTS, type Dialect, type JsonValue, type RequestSummary } from '../../src/dialects/types.js';
import { scratchCopy } from '../../src/gateway/body-parts.js';
import { bodySkeleton } from '../../src/gateway/body-skeleton.js';
import { controlScanArena } from '../../src/gateway/control-scan.js';
import { mostlyLongStrings, summarizeLong } from '../../src/gateway/long-body.js';
import { Rng } from '../fuzz/rng.js';

/**
 * The skeleton scan against JSON.parse on random and mutated JSON: the same verdict (valid object or not), the same
 * values where it builds them (long strings: the same length), and through the dialect validators the same routing
 * summary or the same error (code, message, path, byte position).
 */

const SEED = 0x7e1d;
const FIELD = 'metadata.user_id';
const ALPHABET = ['a', 'Z', ' ', '"', '\\', '/', '\n', '\t', '\u0001', 'é', '中', '😀', '\u2028', '{', '[', ':', ','];
const ESCAPES = [
  '\\"', '\\\\', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t', '\\u00e9', '\\ud83d\\ude00', '\\ud800', '\\u0000',
];

/** A random string's JSON text: short or long (past the skeleton's 1 KiB cut), with escapes and non-ASCII. */
function jsonString(rng: Rng): string {
  const len = rng.chance(0.15) ? 1000 + rng.int(3000) : rng.int(80);
  let s = '';
  const plain = rng.chance(0.5);
  for (let i = 0; i < len; i++) {
    if (plain) s += 'x';
    else if (rng.chance(0.05)) s += '\\' + rng.pick(ESCAPES).slice(1);
    else s += JSON.stringify(rng.pick(ALPHABET)).slice(1, -1);
  }
  return `"${s}"`;
}

const NUMBERS = ['0', '-0', '1', '-1', '12345678901234567', '3.25', '-0.5e-3', '1E9', '2e+2', '9007199254740993',
  '1e400', '123456789012345', '-123456789012345'];
const KEYS = ['model', 'messages', 'role', 'content', 'stream', 'user_id', 'metadata', 'text', 'type', 'max_tokens',
  '__proto__', 'input', 'system', 'a', 'é'];

function blank(rng: Rng): string {
  return rng.chance(0.8) ? '' : rng.pick([' ', '\n', '\t', '\r\n  ']);
}

function value(rng: Rng, depth: number): string {
  const r = rng.int(10);
  if (depth > 5 || r < 3) return jsonString(rng);
  if (r < 5) return rng.pick(NUMBERS);
  if (r < 6) return rng.pick(['true', 'false', 'null']);
  if (r < 8) {
    const n = rng.int(5);
    const items = Array.from({ length: n }, () => blank(rng) + value(rng, depth + 1) + blank(rng));
    return `[${items.join(',')}]`;
  }
  return object(rng, depth + 1);
}

function object(rng: Rng, depth: number): string {
  const n = rng.int(6);
  const members: string[] = [];
  for (let i = 0; i < n; i++) {
    const key = rng.chance(0.8) ? JSON.stringify(rng.pick(KEYS)) : jsonString(rng);
    members.push(`${blank(rng)}${key}${blank(rng)}:${blank(rng)}${value(rng, depth)}${blank(rng)}`);
  }
  return `{${members.join(',')}}`;
}

/** A request-like body: what the validators pass, so summaries (not only errors) are compared. */
function request(rng: Rng): string {
  const turns: string[] = [];
  const n = 1 + rng.int(6);
  for (let i = 0; i < n; i++) {
    const role = rng.pick(['"user"', '"assistant"', '"system"', '"tool"', '"bogus"', jsonString(rng)]);
    const content = rng.chance(0.7) ? jsonString(rng)
      : `[{"type":"text","text":${jsonString(rng)}},{"type":"image_url","image_url":{"url":${jsonString(rng)}}}]`;
    turns.push(`{"role":${role},"content":${content}${role === '"tool"' ? ',"tool_call_id":"c1"' : ''}}`);
  }
  const members = [`"model":${rng.chance(0.9) ? '"gpt-4o"' : jsonString(rng)}`, `"messages":[${turns.join(',')}]`];
  if (rng.chance(0.5)) members.push(`"stream":${rng.pick(['true', 'false', 'null', '"yes"'])}`);
  if (rng.chance(0.5)) members.push(`"metadata":{"user_id":${rng.chance(0.7) ? jsonString(rng) : '42'}}`);
  if (rng.chance(0.3)) members.push(`"max_tokens":${rng.pick(NUMBERS)}`);
  if (rng.chance(0.3)) members.push(`"system":${jsonString(rng)}`);
  if (rng.chance(0.3)) members.push(`"input":${jsonString(rng)}`);
  if (rng.chance(0.3)) members.push(`"contents":[{"parts":[{"text":${jsonString(rng)}}]}]`);
  if (rng.chance(0.2)) members.push(`"prompt":[${jsonString(rng)},${jsonString(rng)}]`);
  return `${blank(rng)}{${members.join(',')}}${blank(rng)}`;
}

const MUTANTS = ['"', '\\', '{', '}', '[', ']', ',', ':', '0', '-', '.', 'e', 't', 'n', ' ', '\u0000', '\u001f', 'é'];

/** One byte-level change: delete, insert, replace, cut short, or a bad UTF-8 byte. */
function mutate(rng: Rng, text: string): Buffer {
  const b = Buffer.from(text);
  const at = rng.int(b.length + 1);
  switch (rng.int(6)) {
    case 0: return Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    case 1: return Buffer.concat([b.subarray(0, at), Buffer.from(rng.pick(MUTANTS)), b.subarray(at)]);
    case 2: return Buffer.concat([b.subarray(0, at), Buffer.from(rng.pick(MUTANTS)), b.subarray(at + 1)]);
    case 3: return b.subarray(0, at);
    case 4: {
      const bad = Buffer.from([rng.pick([0x80, 0xc0, 0xff, 0xed])]);
      return Buffer.concat([b.subarray(0, at), bad, b.subarray(at)]);
    }
    default: return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]);
  }
}

/** JSON.parse's verdict as decodeJsonBody makes it (BOM dropped, UTF-8 checked by the decode). */
function parsed(body: Buffer): JsonValue | undefined {
  const start = body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
  try {
    return JSON.parse(body.toString('utf8', start)) as JsonValue;
  } catch {
    return undefined;
  }
}

/** The skeleton equals the parse, except that a long string may be any string of the same length. */
function sameShape(skeleton: JsonValue, full: JsonValue, where: string): void {
  if (typeof full === 'string') {
    assert.equal(typeof skeleton, 'string', where);
    assert.equal((skeleton as string).length, full.length, where);
    if (full.length <= 40) assert.equal(skeleton, full, where);
    return;
  }
  if (full === null || typeof full !== 'object') {
    assert.ok(Object.is(skeleton, full), `${where}: ${String(skeleton)} vs ${String(full)}`);
    return;
  }
  assert.equal(Array.isArray(skeleton), Array.isArray(full), where);
  const sk = Object.keys(skeleton as object);
  const fk = Object.keys(full);
  assert.deepEqual(sk, fk, where);
  for (const k of fk) {
    const s: JsonValue = (skeleton as Record<string, JsonValue>)[k]!;
    const f: JsonValue = (full as Record<string, JsonValue>)[k]!;
    if (k === 'model' && typeof f === 'string') assert.equal(s, f, `${where}.model is decoded`);
    sameShape(s, f, `${where}.${k}`);
  }
}

type Outcome = RequestSummary | { code: string; message: string; path: unknown; position: unknown };

function outcome(fn: () => RequestSummary): Outcome {
  try {
    return fn();
  } catch (err) {
    const e = err as { code: string; message: string; path?: unknown; position?: unknown };
    return { code: e.code, message: e.message, path: e.path, position: e.position };
  }
}

function check(body: Buffer, dialect: Dialect): boolean {
  const full = parsed(body);
  const utf8Ok = Buffer.from(body.toString('utf8')).equals(body);
  const skeleton = bodySkeleton(body, FIELD);
  const validObject = full !== undefined && utf8Ok && typeof full === 'object' && full !== null && !Array.isArray(full);
  assert.equal(skeleton !== null, validObject, `verdict for ${JSON.stringify(body.toString('latin1').slice(0, 200))}`);
  if (skeleton !== null) sameShape(skeleton, full!, '$');
  const a = outcome(() => summarizeLong(dialect, body, FIELD));
  const b = outcome(() => summarizeRequest(dialect, body, FIELD));
  assert.deepEqual(a, b, `summary for ${dialect}`);
  return skeleton !== null;
}

/**
 * check() on the body as it is and on a copy in the scratch buffer large bodies are read through (the control-scan
 * arena, where long strings are tested with WebAssembly SIMD): the same verdict either way.
 */
function checkBoth(body: Buffer, dialect: Dialect): boolean {
  const plain = check(body, dialect);
  const copy = scratchCopy([body], body.length);
  assert.equal(controlScanArena === null || controlScanArena.holds(copy), true);
  assert.equal(check(copy, dialect), plain, 'the same verdict in the arena');
  return plain;
}

describe('the skeleton scan against JSON.parse', () => {
  it('gives the same verdict, values and routing summary on random and mutated JSON', () => {
    const rng = new Rng(SEED);
    let valid = 0;
    let invalid = 0;
    for (let i = 0; i < 2500; i++) {
      const text = rng.chance(0.5) ? request(rng) : object(rng, 0);
      const dialect = rng.pick(DIALECTS);
      if (checkBoth(Buffer.from(text), dialect)) valid++;
      else invalid++;
      const mutant = mutate(rng, text);
      if (checkBoth(mutant, dialect)) valid++;
      else invalid++;
    }
    // Both sides of the verdict were exercised, not one.
    assert.ok(valid > 1000 && invalid > 1000, `valid ${valid}, invalid ${invalid}`);
  });

  it('long plain runs with one odd byte anywhere (past the first 256 bytes too), at every alignment', () => {
    const rng = new Rng(SEED + 3);
    const odd = ['\u0001', '\n', '\t', '\\n', '\\q', '\\u00e9', '\\u12', '"', 'é', '😀', '\u001f', ' '];
    let valid = 0;
    for (let i = 0; i < 1500; i++) {
      const strings: string[] = [];
      for (let k = 1 + rng.int(3); k > 0; k--) {
        const run = 'x'.repeat(300 + rng.int(5000));
        const at = rng.int(run.length);
        const s = rng.chance(0.8) ? run.slice(0, at) + rng.pick(odd) + run.slice(at) : run;
        strings.push(`"${s}"`);
      }
      const pad = ' '.repeat(rng.int(4));
      const text = `{${pad}"model":"m","messages":[{"role":"user","content":${strings.join(',"x":')}}]}`;
      if (checkBoth(Buffer.from(text), 'openai-chat')) valid++;
    }
    assert.ok(valid > 100 && valid < 1400, `valid ${valid}`);
  });

  it('has WebAssembly SIMD here (the arena exists), so the tests above ran both scans', () => {
    assert.ok(controlScanArena !== null);
  });

  it('takes what JSON.parse takes at any depth, and tops that are not objects go to the parse', () => {
    const deep = `{"a":${'['.repeat(100_000)}"${'x'.repeat(2000)}"${']'.repeat(100_000)}}`;
    assert.ok(bodySkeleton(Buffer.from(deep), null) !== null);
    assert.equal(bodySkeleton(Buffer.from('[1]'), null), null);
    assert.equal(bodySkeleton(Buffer.from(''), null), null);
    const proto = bodySkeleton(Buffer.from(`{"__proto__":{"x":"${'y'.repeat(2000)}"}}`), null)!;
    assert.equal(Object.getPrototypeOf(proto), Object.prototype);
    assert.ok(Object.hasOwn(proto, '__proto__'));
  });

  it('decodes the session field and the model whatever their length, and measures long texts exactly', () => {
    const id = 'u'.repeat(3000);
    const text = '中😀é\\n\\u00e9'.repeat(500);
    const body = Buffer.from(JSON.stringify({
      model: 'm'.repeat(2000), metadata: { user_id: id },
      messages: [{ role: 'user', content: JSON.parse(`"${text}"`) as string }],
    }));
    const s = summarizeLong('openai-chat', body, FIELD);
    assert.deepEqual(s, summarizeRequest('openai-chat', body, FIELD));
    assert.equal(s.sessionId, id);
    assert.equal(s.model, 'm'.repeat(2000));
  });

  it('samples whether long strings make most of a body', () => {
    const content = 'x'.repeat(1 << 20);
    const long = Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content }] }));
    const turns = Array.from({ length: 20_000 }, (_, i) => ({ role: 'user', content: `turn ${i}` }));
    const short = Buffer.from(JSON.stringify({ model: 'm', messages: turns }));
    assert.equal(mostlyLongStrings(long), true);
    assert.equal(mostlyLongStrings(short), false);
    assert.equal(mostlyLongStrings(Buffer.from('{"model":"m"}')), false);
  });

  it('samples each window as if searched on its own (one search may answer for several windows)', () => {
    // The reference: each of the 16 windows of 1 KiB searched for a quote within itself.
    const reference = (b: Buffer): boolean => {
      if (b.length < 16 * 1024) return false;
      const step = Math.floor((b.length - 1024) / 15);
      let inside = 0;
      for (let k = 0; k < 16; k++) if (!b.subarray(k * step, k * step + 1024).includes(0x22)) inside++;
      return inside * 2 >= 16;
    };
    const rng = new Rng(SEED + 7);
    let yes = 0;
    for (let i = 0; i < 300; i++) {
      const parts: string[] = [];
      const n = 16 * 1024 + rng.int(200_000);
      let len = 0;
      const pLong = rng.int(10) / 60;
      while (len < n) {
        const piece = rng.chance(pLong) ? `"${'x'.repeat(rng.int(40_000))}",` : `"${'y'.repeat(rng.int(900))}",`;
        parts.push(piece);
        len += piece.length;
      }
      const b = Buffer.from(`{"a":[${parts.join('')}1]}`);
      const want = reference(b);
      if (want) yes++;
      assert.equal(mostlyLongStrings(b), want, `body ${i}`);
    }
    assert.ok(yes > 30 && yes < 270, `both verdicts exercised: ${yes} of 300`);
  });
});
