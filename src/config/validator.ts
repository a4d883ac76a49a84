import type { ConfigIssue } from '../errors.js';
import { describe, parseHostPort, type HostPort } from '../util/address.js';
import { parseDuration, parseRate, parseSize } from '../util/units.js';

/**
 * A small reader that walks an untrusted document, records every problem with its path, and returns a usable
 * default so validation can go on and report the whole document at once.
 */
export class Reader {
  readonly issues: ConfigIssue[] = [];

  fail(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  object(path: string, value: unknown, known: readonly string[]): Record<string, unknown> {
    if (value === undefined || value === null) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.fail(path, `expected an object, got ${describe(value)}`);
      return {};
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!known.includes(key)) this.fail(join(path, key), `unknown key (expected one of: ${known.join(', ')})`);
    }
    return record;
  }

  list(path: string, value: unknown): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.fail(path, `expected a list, got ${describe(value)}`);
      return [];
    }
    return value;
  }

  string(path: string, value: unknown, fallback: string): string;
  string(path: string, value: unknown, fallback: null): string | null;
  string(path: string, value: unknown, fallback: string | null): string | null {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string') {
      this.fail(path, `expected a string, got ${describe(value)}`);
      return fallback;
    }
    return value;
  }

  requiredString(path: string, value: unknown): string {
    if (typeof value !== 'string' || value.trim() === '') {
      this.fail(path, `expected a non-empty string, got ${describe(value)}`);
      return '';
    }
    return value;
  }

  boolean(path: string, value: unknown, fallback: boolean): boolean {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') {
      this.fail(path, `expected true or false, got ${describe(value)}`);
      return fallback;
    }
    return value;
  }

  integer(path: string, value: unknown, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(path, `expected an integer from ${min} to ${max}, got ${describe(value)}`);
      return fallback;
    }
    return value;
  }

  number(path: string, value: unknown, fallback: number, min = 0, max = Number.MAX_VALUE): number {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      this.fail(path, `expected a number from ${min} to ${max}, got ${describe(value)}`);
      return fallback;
    }
    return value;
  }

  oneOf<T extends string>(path: string, value: unknown, choices: readonly T[], fallback: T): T {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
      this.fail(path, `expected one of ${choices.map((c) => `"${c}"`).join(', ')}, got ${describe(value)}`);
      return fallback;
    }
    return value as T;
  }

  size(path: string, value: unknown, fallback: number): number {
    if (value === undefined || value === null) return fallback;
    const bytes = parseSize(value);
    if (bytes === undefined) {
      this.fail(path, `expected a size like 10MiB or a byte count, got ${describe(value)}`);
      return fallback;
    }
    return bytes;
  }

  rate(path: string, value: unknown, fallback: number): number {
    if (value === undefined || value === null) return fallback;
    const bps = parseRate(value);
    if (bps === undefined) {
      this.fail(path, `expected a rate like 10MiB/s or bytes per second, got ${describe(value)}`);
      return fallback;
    }
    return bps;
  }

  duration(path: string, value: unknown, fallback: number): number {
    if (value === undefined || value === null) return fallback;
    const ms = parseDuration(value);
    if (ms === undefined) {
      this.fail(path, `expected a duration like 45s, 500ms or 1h30m, got ${describe(value)}`);
      return fallback;
    }
    return ms;
  }

  hostPort(path: string, value: unknown): HostPort | null {
    const parsed = parseHostPort(value);
    if (typeof parsed === 'string') {
      this.fail(path, parsed);
      return null;
    }
    return parsed;
  }

  url(path: string, value: unknown, protocols: readonly string[]): URL | null {
    if (typeof value !== 'string') {
      this.fail(path, `expected a URL, got ${describe(value)}`);
      return null;
    }
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      this.fail(path, `expected a URL, got ${describe(value)}`);
      return null;
    }
    if (!protocols.includes(url.protocol.slice(0, -1))) {
      this.fail(path, `expected a ${protocols.join(' or ')} URL, got ${describe(value)}`);
      return null;
    }
    return url;
  }
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** Deep-freezes a validated config so nothing downstream can change it by accident. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value) && !(value instanceof URL)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
