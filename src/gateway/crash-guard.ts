import { GatewayError, GatewayInternalError } from '../errors.js';
import type { Logger } from '../log.js';

/** What a crash is answered on: the exchange, seen only as something that logs and fails. */
export interface CrashSubject {
  readonly core: { readonly log: Logger; readonly serviceName: string };
  fail(err: GatewayError): void;
}

/** Something a request step threw unexpectedly: logged, and answered as 500 (or an error event once streaming). */
export function exchangeCrashed(subject: CrashSubject, err: unknown): void {
  subject.core.log.error({ err, service: subject.core.serviceName }, 'gateway request failed unexpectedly');
  if (err instanceof GatewayError) subject.fail(err);
  else subject.fail(new GatewayInternalError(err instanceof Error ? err.message : String(err)));
}

/** An async step's await: its rejection is handled here (answered), so none is left unhandled. */
export async function guardStep(subject: CrashSubject, step: Promise<void>): Promise<void> {
  try {
    await step;
  } catch (err) {
    exchangeCrashed(subject, err);
  }
}
