import { pino, type Logger } from 'pino';
import { DEFAULTS } from './config/defaults.js';
import type { LogLevel } from './config/schema.js';

export type { Logger };

/** Structured JSON logs on stdout (pino). Tests and the bench pass `silent`. */
export function createLogger(level: LogLevel = DEFAULTS.log.level): Logger {
  return pino({ level, base: { app: 'tidegate' }, timestamp: pino.stdTimeFunctions.isoTime });
}
