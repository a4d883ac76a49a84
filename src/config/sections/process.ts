import { availableParallelism } from 'node:os';
import { DEFAULTS } from '../defaults.js';
import type { LogLevel } from '../types.js';
import type { Reader } from '../validator.js';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** `log:`: the process's log level. */
export function readLog(r: Reader, value: unknown): { level: LogLevel } {
  const o = r.object('log', value, ['level']);
  return { level: r.oneOf('log.level', o.level, LOG_LEVELS, DEFAULTS.log.level) };
}

/** `reload:`: whether the config file is watched. */
export function readReload(r: Reader, value: unknown): { watch: boolean } {
  const o = r.object('reload', value, ['watch']);
  return { watch: r.boolean('reload.watch', o.watch, DEFAULTS.reload.watch) };
}

/** `workers: auto | N`: worker processes sharing the listeners; `auto` is one per core. */
export function readWorkers(r: Reader, value: unknown): number {
  if (value === 'auto') return Math.max(1, availableParallelism());
  return r.integer('workers', value, DEFAULTS.workers, 1, 256);
}
