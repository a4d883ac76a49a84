import { JsonBodyError } from '../errors.js';
import type { JsonObject, JsonValue } from './types.js';

/** Helpers that check one value and, only when it is wrong, build the JSON path for the error. */

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? 'a string' : `"${v}"`;
  if (typeof v === 'object') return 'an object';
  if (v === undefined) return 'nothing';
  return `${typeof v} ${String(v)}`;
}

export function child(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

export function shapeError(path: string, expected: string, got: unknown): JsonBodyError {
  return new JsonBodyError('shape', path, null, `${path}: expected ${expected}, got ${describe(got)}`);
}

/** `v` when it is a string, else `fallback`. */
export function stringOr<T extends string | null>(v: JsonValue | undefined, fallback: T): string | T {
  return typeof v === 'string' ? v : fallback;
}

export function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function expectObject(v: JsonValue | undefined, path: string): JsonObject {
  if (!isObject(v)) throw shapeError(path, 'an object', v);
  return v;
}

export function expectArray(v: JsonValue | undefined, path: string): JsonValue[] {
  if (!Array.isArray(v)) throw shapeError(path, 'an array', v);
  return v;
}

export function expectString(o: JsonObject, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw shapeError(child(path, key), 'a string', v);
  return v;
}

export function optionalString(o: JsonObject, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw shapeError(child(path, key), 'a string', v);
  return v;
}

export function optionalBoolean(o: JsonObject, key: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw shapeError(child(path, key), 'true or false', v);
  return v;
}

export function optionalNumber(o: JsonObject, key: string, path: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number') throw shapeError(child(path, key), 'a number', v);
  return v;
}

/** Reads a dotted path (`metadata.user_id`) as a string; numbers are stringified, anything else is null. */
export function readDotted(root: JsonObject, dotted: string): string | null {
  let cur: JsonValue | undefined = root;
  let from = 0;
  while (from <= dotted.length) {
    const dot = dotted.indexOf('.', from);
    const key = dot === -1 ? dotted.slice(from) : dotted.slice(from, dot);
    if (!isObject(cur)) return null;
    cur = cur[key];
    if (dot === -1) break;
    from = dot + 1;
  }
  if (typeof cur === 'string') return cur;
  if (typeof cur === 'number') return String(cur);
  return null;
}
