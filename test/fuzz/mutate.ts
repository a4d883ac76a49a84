import type { Rng } from './rng.js';

/** Bytes parsers tend to get wrong: NUL, CR/LF, high bit, %, the JSON and SOCKS structure bytes, 0xff. */
const INTERESTING = [
  0x00, 0x01, 0x05, 0x0a, 0x0d, 0x20, 0x22, 0x25, 0x2f, 0x3a, 0x5b, 0x7b, 0x7f, 0x80, 0xc0, 0xe0, 0xfe, 0xff,
];

/** Applies 1–4 random edits (flip, set, insert, delete, duplicate a slice, truncate) to a copy of `input`. */
export function mutate(rng: Rng, input: Buffer, maxLength = 1 << 20): Buffer {
  let buf = Buffer.from(input);
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const at = buf.length === 0 ? 0 : rng.int(buf.length);
    switch (rng.int(7)) {
      case 0:
        if (buf.length > 0) buf[at] = buf[at]! ^ (1 << rng.int(8));
        break;
      case 1:
        if (buf.length > 0) buf[at] = rng.pick(INTERESTING);
        break;
      case 2:
        buf = Buffer.concat([
          buf.subarray(0, at),
          rng.chance(0.5) ? Buffer.from([rng.pick(INTERESTING)]) : rng.bytes(1 + rng.int(8)),
          buf.subarray(at),
        ]);
        break;
      case 3:
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(Math.min(buf.length, at + 1 + rng.int(8)))]);
        break;
      case 4: {
        const slice = buf.subarray(at, at + 1 + rng.int(32));
        const times = 1 + rng.int(rng.chance(0.1) ? 2_000 : 8);
        buf = Buffer.concat([buf.subarray(0, at), ...Array<Buffer>(times).fill(slice), buf.subarray(at)]);
        break;
      }
      case 5:
        buf = buf.subarray(0, at);
        break;
      default:
        // A decimal field made absurd: the next digit run becomes huge or negative.
        buf = Buffer.from(buf.toString('latin1').replace(/\d+/, rng.pick(['-1', '0', '99999999999999999999', '1e309', '0x10', ''])), 'latin1');
    }
  }
  return buf.length > maxLength ? buf.subarray(0, maxLength) : buf;
}

/** Cuts `input` into 1–6 writes, sometimes byte by byte at the start, so parsers see every split. */
export function split(rng: Rng, input: Buffer): Buffer[] {
  if (input.length < 2 || rng.chance(0.5)) return [input];
  if (rng.chance(0.1)) {
    const head = Math.min(input.length, 16);
    return [...Array.from({ length: head }, (_, i) => input.subarray(i, i + 1)), input.subarray(head)]
      .filter((b) => b.length > 0);
  }
  const cuts = new Set<number>();
  const n = 1 + rng.int(5);
  for (let i = 0; i < n; i++) cuts.add(1 + rng.int(input.length - 1));
  const points = [0, ...[...cuts].sort((a, b) => a - b), input.length];
  const parts: Buffer[] = [];
  for (let i = 1; i < points.length; i++) parts.push(input.subarray(points[i - 1]!, points[i]!));
  return parts;
}
