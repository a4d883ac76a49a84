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
