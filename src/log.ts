import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/schema.js';

export type { Logger };

/** Structured JSON logs on stdout (pino). Tests and the bench pass `silent`. */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: { app: 'tidegate' }, timestamp: pino.stdTimeFunctions.isoTime });
}
