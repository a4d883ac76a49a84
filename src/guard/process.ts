import type { Logger } from '../log.js';
import { describeError } from './describe-error.js';

/**
 * Installed by `tidegate start`: an exception or rejection nobody caught is logged (kind, code, message, stack;
 * never the error object's other fields) and the process keeps serving its other connections and services.
 * Returns the uninstaller.
 */
export function installProcessGuard(log: Logger): () => void {
  function uncaughtException(err: Error, origin: string): void {
    log.error({ error: describeError(err), origin }, 'uncaught exception: tidegate keeps running');
  }
  function unhandledRejection(reason: unknown): void {
    log.error({ error: describeError(reason) }, 'unhandled promise rejection: tidegate keeps running');
  }
  process.on('uncaughtException', uncaughtException);
  process.on('unhandledRejection', unhandledRejection);
  return function uninstallProcessGuard(): void {
    process.removeListener('uncaughtException', uncaughtException);
    process.removeListener('unhandledRejection', unhandledRejection);
  };
}
