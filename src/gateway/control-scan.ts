/**
 * The first byte below 0x20 in a stretch of memory, 16 bytes a step with WebAssembly SIMD: the skeleton scan's test
 * for control bytes inside long strings (JSON.parse refuses them raw), about 10 times faster than the 4-byte SWAR loop
 * in JavaScript. It reads only its own memory, so the bytes must be there: ControlScanArena hands out one reused
 * buffer in it (the scratch copy a large body is read through). Null where WebAssembly SIMD is missing.
 */

/**
 * (func (param $i i32) (param $end i32) (result i32)): while $i + 16 <= $end and the 16 bytes at $i hold no byte
 * below 0x20 (i8x16.lt_u against a splat of 0x20, v128.any_true), $i += 16; returns $i. Memory imported as m.mem.
 */
const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  // type: (i32, i32) -> i32
  0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f,
  // import "m" "mem" (memory 1)
  0x02, 0x0a, 0x01, 0x01, 0x6d, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x01,
  // function 0 of type 0
  0x03, 0x02, 0x01, 0x00,
  // export "scan" = function 0
  0x07, 0x08, 0x01, 0x04, 0x73, 0x63, 0x61, 0x6e, 0x00, 0x00,
  // code
  0x0a, 0x2f, 0x01, 0x2d, 0x00,
  0x02, 0x40, // block
  0x03, 0x40, // loop
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x20, 0x01, 0x4b, 0x0d, 0x01, // br_if block: $i + 16 > $end
  0x20, 0x00, 0xfd, 0x00, 0x00, 0x00, // v128.load $i
  0x41, 0x20, 0xfd, 0x0f, // i8x16.splat 0x20
  0xfd, 0x26, 0xfd, 0x53, 0x0d, 0x01, // i8x16.lt_u, v128.any_true, br_if block
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x21, 0x00, // $i += 16
  0x0c, 0x00, // br loop
  0x0b, 0x0b, // end loop, end block
  0x20, 0x00, 0x0b,
]);

const PAGE = 65536;

/** The part of the WebAssembly global used here (the project's TypeScript libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  readonly Memory: new (descriptor: { initial: number }) => WasmMemory;
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
}

/** One WebAssembly memory and the scan over it, per thread. */
export class ControlScanArena {
  readonly memory: WasmMemory;
  readonly scan: (from: number, to: number) => number;

  constructor(memory: WasmMemory, scan: (from: number, to: number) => number) {
    this.memory = memory;
    this.scan = scan;
  }

  /** A buffer of `length` bytes in the arena (grown as needed), valid until the next call. */
  buffer(length: number): Buffer {
    const have = this.memory.buffer.byteLength;
    if (have < length) this.memory.grow(Math.ceil((length - have) / PAGE));
    return Buffer.from(this.memory.buffer, 0, length);
  }

  /** Whether `b` lives in this arena's memory (then scan() may read it, at b.byteOffset on). */
  holds(b: Buffer): boolean {
    return b.buffer === this.memory.buffer;
  }
}

function makeArena(): ControlScanArena | null {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) return null;
  try {
    const memory = new wasm.Memory({ initial: 1 });
    const instance = new wasm.Instance(new wasm.Module(MODULE), { m: { mem: memory } });
    return new ControlScanArena(memory, instance.exports.scan as (from: number, to: number) => number);
  } catch {
    return null;
  }
}

/** This thread's arena, or null (no WebAssembly SIMD: the scan stays in JavaScript). */
export const controlScanArena: ControlScanArena | null = makeArena();
