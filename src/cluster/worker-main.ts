import { installProcessGuard } from '../guard/process.js';
import { createLogger, type Logger } from '../log.js';
import { Runtime } from '../runtime/runtime.js';
import { InternalError, type TidegateError } from '../errors.js';
import { setListenHook } from '../listen/listen.js';
import { reusePortCalls } from '../listen/reuseport.js';
import { decodeConfig, encodeConfig } from './config-codec.js';
import type { FromWorker, ToWorker, WorkerReport } from './messages.js';
import { PrimaryLimits } from './limit-client.js';
import { WorkerLink } from './worker-link.js';
import { WorkerListeners, type ReceivedHandle } from './worker-listeners.js';
import { WorkerUsageLog } from './worker-usage-log.js';
import { pinWorker } from './steering.js';

/** How often a worker looks whether its services' state changed (status and metrics read the latest it sent). */
const REPORT_MS = 1_000;

/**
 * A worker process (forked by the primary through node:cluster): runs the services of the config the primary sends, on
 * listeners the primary shares (its slot's SO_REUSEPORT sockets, or node:cluster's), and sends its counter deltas to
 * the primary. It obeys the primary: `stop` drains it; losing the primary drains it too.
 */
const slot = Number(process.env.TIDEGATE_WORKER_SLOT ?? '0');
let runtime: Runtime | null = null;
let link: WorkerLink | null = null;
let limits: PrimaryLimits | null = null;
let log: Logger | null = null;
let stopping: Promise<void> | null = null;
let reports: NodeJS.Timeout | null = null;
/** The last report sent, as JSON: an idle worker sends nothing (the primary keeps what it has). */
let lastReport = '';
/** The slot's listening sockets from the primary (null when node:cluster shares the listeners). */
let listeners: WorkerListeners | null = null;

function send(message: FromWorker): void {
  if (process.connected) process.send!(message);
}

/** The primary publishes its own reload events; what only a worker sees (quota cuts) goes up to it. */
function forwardEvent(type: string, data: Record<string, unknown>): void {
  if (type === 'quota') send({ t: 'event', type, data });
}

function report(rt: Runtime): WorkerReport {
  const own = rt.workerReport();
  return {
    services: own.services, liveRelays: own.liveRelays, caches: rt.caches().services,
    relayEngine: own.relayEngine, relayEngineFallback: own.relayEngineFallback,
  };
}

/** The slot's sockets, made on first use; null without the addon here (node:cluster's listen works then). */
function slotListeners(): WorkerListeners | null {
  if (listeners !== null) return listeners;
  const calls = reusePortCalls();
  if (calls === null) return null;
  listeners = new WorkerListeners(calls);
  setListenHook(listeners);
  return listeners;
}

/** A listening socket of this worker's slot (the primary sends them ahead of the start or reload using them). */
function heldListener(message: Extract<ToWorker, { t: 'listener' }>, handle: ReceivedHandle | undefined): void {
  const held = slotListeners();
  if (held === null) handle?.close();
  else held.add(message.key, handle);
}

async function start(message: Extract<ToWorker, { t: 'start' }>): Promise<void> {
  // Before the relay threads start: they inherit the main thread's CPUs.
  const pinned = pinWorker(reusePortCalls(), slot, message.workers);
  if (message.listeners !== null) slotListeners()?.retain(message.listeners);
  const config = decodeConfig(message.config);
  const logger = createLogger(config.log.level).child({ worker: slot });
  log = logger;
  installProcessGuard(logger);
  if (pinned < 0) logger.warn({ errno: pinned }, 'worker not pinned to its CPUs');
  link = new WorkerLink(send, logger);
  link.applyUsage(message.usage);
  link.budgetShare = message.workers;
  limits = new PrimaryLimits(send);
  link.limits = limits;
  const l = link;
  limits.onSettle = function settled(): void {
    l.flushSoon();
  };
  try {
    runtime = await Runtime.start(config, {
      log: logger, shared: link, sharedLimits: limits, onEvent: forwardEvent,
      // Without the primary's request log the rows would cross only to be dropped there.
      ...(message.requestLog ? { usageLog: new WorkerUsageLog(link) } : {}),
    });
  } catch (err) {
    const e = err as TidegateError;
    send({ t: 'failed', code: e.code ?? InternalError.code, message: e.message });
    process.exitCode = 1;
    process.disconnect();
    return;
  }
  const rt = runtime;
  link.onRaised = function usageRaised(id: string): void {
    rt.accounting.usageRaised(id);
  };
  send({ t: 'ready', generation: message.generation, report: report(rt) });
  reports = setInterval(function sendReport() {
    const r = report(rt);
    const text = JSON.stringify(r);
    if (text === lastReport) return;
    lastReport = text;
    send({ t: 'report', report: r });
  }, REPORT_MS);
  reports.unref();
}

async function reload(message: Extract<ToWorker, { t: 'reload' }>): Promise<void> {
  const rt = runtime!;
  if (message.listeners !== null) listeners?.retain(message.listeners);
  link!.applyUsage(message.usage);
  let result = null;
  let error: string | null = null;
  try {
    result = await rt.reload(decodeConfig(message.config));
  } catch (err) {
    error = (err as Error).message;
  }
  send({
    t: 'reloaded', id: message.id, result, error, services: (encodeConfig(rt.config) as { services: unknown }).services,
    report: report(rt),
  } as FromWorker);
}

function stop(): Promise<void> {
  stopping ??= (async () => {
    if (reports !== null) clearInterval(reports);
    // The slot's sockets stay with the primary (and a replacement); the servers close their own copies as they drain.
    listeners?.closeAll();
    // Drains the services, then the last deltas go to the primary and wait for its acknowledgement.
    if (runtime !== null) await runtime.shutdown();
    process.exitCode = 0;
    if (process.connected) process.disconnect();
    // Anything left holding the loop (a stuck socket) must not keep a drained worker alive.
    setTimeout(() => process.exit(0), 1_000).unref();
  })();
  return stopping;
}

function onMessage(message: ToWorker, handle: unknown): void {
  switch (message.t) {
    case 'listener':
      heldListener(message, handle as ReceivedHandle | undefined);
      break;
    case 'start':
      void start(message);
      break;
    case 'reload':
      void reload(message);
      break;
    case 'usage':
      link?.applyUsage(message.usage);
      break;
    case 'admitted':
      limits?.replied(message.seq, message.r, message.names);
      break;
    case 'ack':
      link?.acknowledged(message.seq);
      break;
    case 'closeUser':
      runtime?.closeUser(message.user, message.reason);
      break;
    case 'resetUsage':
      link?.forget(message.user);
      void runtime?.accounting.resetUsage(message.user);
      break;
    case 'stop':
      void stop();
      break;
  }
}

process.on('message', onMessage);
// Messages sent before this module ran would have been lost (ESM loads asynchronously): ask for the config now.
send({ t: 'hello' });
// The primary owns the lifecycle: a terminal's ^C reaches the whole process group, and the primary drains us.
process.on('SIGINT', () => undefined);
process.on('SIGHUP', () => undefined);
process.on('SIGTERM', function drainOnTerm() {
  log?.info('SIGTERM: draining this worker');
  void stop();
});
process.on('disconnect', function primaryGone() {
  if (stopping === null) log?.warn('the primary is gone: draining');
  void stop();
});
