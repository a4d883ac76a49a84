import cluster, { type Worker } from 'node:cluster';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { AdminRoute } from '../admin/server.js';
import type { Config, ServiceConfig } from '../config/schema.js';
import type { ServiceStatus } from '../contracts/service-status.js';
import { WorkerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Fleet, FleetHost, FleetReload } from '../runtime/fleet.js';
import type { ReloadFailure } from '../runtime/reload-result.js';
import { sumServices } from './aggregate.js';
import { decodeConfig, encodeConfig, workerConfig } from './config-codec.js';
import { LedgerHub, USAGE_BROADCAST_MS } from './ledger-hub.js';
import { LimitHub } from './limit-hub.js';
import { ListenerTable } from './listener-table.js';
import type { FromWorker, ToWorker, UsageRow } from './messages.js';
import { registerWorkerMetrics } from './metrics.js';
import { workerRoutes } from './routes.js';
import { Slot, type Member } from './slot.js';
import { DELTA_BATCH_MS } from './worker-link.js';
import { SHARE_FLOOR_BYTES } from '../accounting/accounting.js';
import { reusePortCalls } from '../listen/reuseport.js';

/** How long a worker may take to start (load, geo, listen) or to answer a reload. */
const ANSWER_TIMEOUT_MS = 60_000;
/** Beyond the shutdown grace, how long a draining worker may take to hand over its last deltas before SIGKILL. */
const EXIT_MARGIN_MS = 10_000;

export interface FleetOptions {
  readonly workers: number;
  readonly log: Logger;
  /** What `pool.threads: auto` resolved to (workers get their share of the cores instead). */
  readonly autoPoolThreads: number;
}

interface PendingReload {
  readonly waiting: Set<Member>;
  readonly answers: Map<Member, Extract<FromWorker, { t: 'reloaded' }> | null>;
  readonly done: () => void;
}

/**
 * How the workers share listeners: `reuseport` (Linux with the addon: SO_REUSEPORT sockets the primary holds per
 * slot, the kernel spreads connections, nothing passes through the primary) unless TIDEGATE_WORKER_LISTEN=cluster
 * asks for node:cluster (round-robin, or NODE_CLUSTER_SCHED_POLICY=none), which is also the fallback.
 * docs/workers.md has the measurements behind the choice.
 */
export function listenMode(): 'reuseport' | 'cluster' {
  if (process.env.TIDEGATE_WORKER_LISTEN === 'cluster') return 'cluster';
  return reusePortCalls() === null ? 'cluster' : 'reuseport';
}

/**
 * The primary's worker processes (forked with node:cluster; listeners shared as `listenMode()` says): starts them with
 * the one validated config, applies each reload in all of them with one result, takes their deltas into the one ledger,
 * restarts a crashed one alone with back-off (five crashes in a minute mark its slot failed), replaces them one at a
 * time on a rolling restart, and drains them on shutdown.
 */
export class WorkerFleet implements Fleet {
  readonly slots: Slot[];
  private readonly log: Logger;
  private readonly autoPoolThreads: number;
  private host: FleetHost | null = null;
  private hub: LedgerHub | null = null;
  private limits: LimitHub | null = null;
  private config: Config | null = null;
  private generation = 0;
  private reloadIds = 0;
  private readonly pendingReloads = new Map<number, PendingReload>();
  private stopping = false;
  private rolling: Promise<void> | null = null;
  private readonly startedAt = Date.now();
  /** The slots' SO_REUSEPORT sockets; null when node:cluster shares the listeners. */
  private readonly table: ListenerTable | null;

  constructor(options: FleetOptions) {
    this.log = options.log;
    this.autoPoolThreads = options.autoPoolThreads;
    this.slots = Array.from({ length: options.workers }, (_, i) => new Slot(i + 1));
    const calls = listenMode() === 'reuseport' ? reusePortCalls() : null;
    this.table = calls === null ? null : new ListenerTable(calls, options.workers, options.log);
  }

  get size(): number {
    return this.slots.length;
  }

  async start(config: Config, host: FleetHost): Promise<void> {
    this.host = host;
    this.config = config;
    this.generation = 1;
    const fleet = this;
    const hub = this.hub = new LedgerHub(host, function broadcastUsage(usage: UsageRow[]) {
      fleet.broadcast({ t: 'usage', usage });
    });
    this.limits = new LimitHub(host.accounting);
    this.limits.apply(config);
    host.accounting.liveElsewhere = function liveInWorkers(id: string): number {
      return hub.liveOf(id);
    };
    registerWorkerMetrics(host.accounting.metrics, this);
    // node:cluster's round-robin (the primary accepts and hands each socket over) when it shares the listeners;
    // NODE_CLUSTER_SCHED_POLICY=none lets the workers accept from one shared socket (docs/workers.md).
    if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_RR;
    await this.table?.update(config.services);
    cluster.setupPrimary({
      exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)),
      serialization: 'advanced',
    });
    const started = this.slots.map((slot) => this.spawn(slot));
    const results = await Promise.allSettled(started);
    const failure = results.find((r) => r.status === 'rejected');
    if (failure !== undefined) {
      // Like one process whose port is taken: the start fails whole, nothing keeps running.
      await this.stop(0);
      throw (failure as PromiseRejectedResult).reason;
    }
    this.log.info({ workers: this.slots.length, pids: this.slots.map((s) => s.member?.pid) }, 'workers running');
  }

  /** Forks a worker into `slot`; resolves once it listens (the slot's member from then on). */
  private spawn(slot: Slot): Promise<void> {
    const worker = cluster.fork({ TIDEGATE_WORKER_SLOT: String(slot.index) });
    const member: Member = {
      worker, slot, pid: worker.process.pid ?? 0, ready: false, expected: false, report: null,
      startedAt: Date.now(), listeners: new Set(),
    };
    slot.starting = member;
    if (slot.member === null) slot.state = 'starting';
    const fleet = this;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(function startTimedOut() {
        fail(new WorkerError(slot.index, `worker ${slot.index} did not start within ${ANSWER_TIMEOUT_MS} ms`));
        worker.process.kill('SIGKILL');
      }, ANSWER_TIMEOUT_MS);
      timer.unref();
      function fail(err: Error): void {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      }
      worker.on('message', function fromWorker(message: FromWorker) {
        if (message.t === 'hello') {
          fleet.sendListeners(member);
          worker.send(fleet.startMessage());
          return;
        }
        if (message.t === 'ready') {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          fleet.ready(member, message.generation, message.report);
          resolve();
          return;
        }
        if (message.t === 'failed') {
          fail(new WorkerError(slot.index, `worker ${slot.index}: ${message.code}: ${message.message}`));
          return;
        }
        fleet.onMessage(member, message);
      });
      worker.on('exit', function workerExited(code: number | null, signal: string | null) {
        fail(new WorkerError(slot.index, `worker ${slot.index} exited while starting (code ${code}, ${signal})`));
        fleet.exited(member, code, signal);
      });
    });
  }

  private startMessage(): ToWorker {
    return {
      t: 'start', config: encodeConfig(this.workerConfig(this.config!)), generation: this.generation,
      usage: this.hub!.snapshot(), workers: this.slots.length,
      listeners: this.table?.keys(this.config!.services) ?? null, requestLog: this.host!.usageLog !== null,
    };
  }

  /** The slot's listening sockets the worker does not have yet, each as an IPC handle (ahead of what needs them). */
  private sendListeners(member: Member): void {
    if (this.table === null || !member.worker.isConnected()) return;
    for (const { id, key, handle } of this.table.forSlot(member.slot.index)) {
      if (member.listeners.has(id)) continue;
      member.listeners.add(id);
      member.worker.send({ t: 'listener', key } satisfies ToWorker, handle as Socket);
    }
  }

  private workerConfig(config: Config): Config {
    return workerConfig(config, this.slots.length, this.autoPoolThreads);
  }

  private ready(member: Member, generation: number, report: Member['report']): void {
    const slot = member.slot;
    member.ready = true;
    member.report = report;
    slot.starting = null;
    slot.member = member;
    slot.state = 'running';
    this.log.info({ worker: slot.index, pid: member.pid }, 'worker listening');
    // A reload ran while it started: it catches up now.
    if (generation < this.generation && !this.stopping) void this.reloadOne(member, this.config!);
  }

  private onMessage(member: Member, message: FromWorker): void {
    switch (message.t) {
      case 'admit': {
        const seq = message.seq;
        const fleet = this;
        this.limits!.admit(member, message.args, function limitsAnswered(r, names) {
          fleet.send(member, { t: 'admitted', seq, r, names });
        });
        break;
      }
      case 'deltas':
        this.hub!.ingest(member, message.rows, message.log, message.live);
        // After the batch's deltas: the spend is counted before its reservation goes.
        if (message.settles.length > 0) this.limits!.settle(member, message.settles);
        if (message.ack) this.send(member, { t: 'ack', seq: message.seq });
        break;
      case 'report':
        member.report = message.report;
        break;
      case 'event':
        this.host!.publish(message.type, { ...message.data, worker: member.slot.index });
        break;
      case 'reloaded':
        member.report = message.report;
        this.answered(message.id, member, message);
        break;
      default:
        break;
    }
  }

  private send(member: Member, message: ToWorker): void {
    if (member.worker.isConnected()) member.worker.send(message);
  }

  private broadcast(message: ToWorker): void {
    for (const member of this.members()) this.send(member, message);
  }

  /** Every live worker: the slots' members and those starting or retiring. */
  private members(): Member[] {
    const out: Member[] = [];
    for (const slot of this.slots) {
      if (slot.member !== null) out.push(slot.member);
      if (slot.starting !== null) out.push(slot.starting);
      out.push(...slot.retiring);
    }
    return out;
  }

  /** An exit: expected (stop, rolling restart) or a crash, restarted alone with back-off. */
  private exited(member: Member, code: number | null, signal: string | null): void {
    const slot = member.slot;
    // What it held (requests in flight, reservations, live relays) ended with it.
    this.limits?.forget(member);
    this.hub?.forget(member);
    // Its reload answer will not come.
    for (const [id, pending] of this.pendingReloads) if (pending.waiting.has(member)) this.answered(id, member, null);
    const index = slot.retiring.indexOf(member);
    if (index >= 0) slot.retiring.splice(index, 1);
    if (slot.starting === member) slot.starting = null;
    const wasMember = slot.member === member;
    if (wasMember) slot.member = null;
    if (member.expected || this.stopping) {
      if (wasMember && slot.starting === null) slot.state = 'stopped';
      return;
    }
    if (!wasMember && slot.member !== null) return;
    const now = Date.now();
    slot.crashed(now, code, signal);
    if (slot.crashesInWindow(now) >= Slot.CRASH_LIMIT) {
      slot.state = 'failed';
      // Its share of new connections goes to the other slots (what queued in its sockets is reset).
      this.table?.closeSlot(slot.index);
      this.log.error(
        { worker: slot.index, pid: member.pid, code, signal, crashes: slot.crashesInWindow(now) },
        'worker crashed 5 times in a minute: slot marked failed; the other workers keep serving',
      );
      this.host?.publish('worker', { worker: slot.index, state: 'failed', code, signal });
      return;
    }
    const delay = slot.backoffMs(now);
    slot.state = 'backoff';
    this.log.error(
      { worker: slot.index, pid: member.pid, code, signal, restartInMs: delay }, 'worker exited unexpectedly',
    );
    this.host?.publish('worker', { worker: slot.index, state: 'restarting', code, signal });
    const fleet = this;
    slot.timer = setTimeout(function restartWorker() {
      slot.timer = null;
      if (fleet.stopping) return;
      slot.restarts++;
      fleet.spawn(slot).catch((err: Error) => {
        fleet.log.error({ worker: slot.index, err: err.message }, 'worker restart failed');
      });
    }, delay);
    slot.timer.unref();
  }

  async reload(config: Config): Promise<FleetReload> {
    this.config = config;
    this.generation++;
    this.limits?.apply(config);
    // New addresses get their sockets before any worker's services need them.
    await this.table?.update(config.services);
    const members = this.slots.map((s) => s.member).filter((m): m is Member => m !== null && m.ready);
    const answers = await Promise.all(members.map((m) => this.reloadOne(m, config)));
    // Every worker took the new config: the primary lets go of addresses no service has now.
    if (this.config === config) this.table?.prune(config.services);
    const failed: ReloadFailure[] = [];
    const refreshed = new Set<string>();
    const running = new Map<string, ServiceConfig>();
    answers.forEach((answer, i) => {
      const worker = members[i]!.slot.index;
      if (answer === null || answer.result === null) {
        const message = answer?.error ?? `worker ${worker} exited or did not answer the reload`;
        failed.push({ service: '*', address: '', code: WorkerError.code, message, worker });
        return;
      }
      for (const f of answer.result.failed) failed.push({ ...f, worker });
      for (const r of answer.result.refreshed) refreshed.add(r);
      const services = decodeConfig({ services: answer.services }).services;
      for (const svc of services) if (!running.has(svc.name)) running.set(svc.name, svc);
    });
    if (config.workers !== this.slots.length) {
      this.log.warn({ configured: config.workers, running: this.slots.length }, 'workers: applies at the next start');
    }
    return {
      failed,
      refreshed: [...refreshed],
      running: (name) => (members.length === 0 ? config.services.find((s) => s.name === name) : running.get(name)),
    };
  }

  private reloadOne(member: Member, config: Config): Promise<Extract<FromWorker, { t: 'reloaded' }> | null> {
    const id = ++this.reloadIds;
    const waiting = new Set([member]);
    const answers = new Map<Member, Extract<FromWorker, { t: 'reloaded' }> | null>();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.answered(id, member, null), ANSWER_TIMEOUT_MS);
      timer.unref();
      this.pendingReloads.set(id, {
        waiting, answers, done() {
          clearTimeout(timer);
          resolve(answers.get(member) ?? null);
        },
      });
      this.sendListeners(member);
      this.send(member, {
        t: 'reload', id, config: encodeConfig(this.workerConfig(config)), generation: this.generation,
        usage: this.hub!.snapshot(), listeners: this.table?.keys(config.services) ?? null,
      });
    });
  }

  private answered(id: number, member: Member, answer: Extract<FromWorker, { t: 'reloaded' }> | null): void {
    const pending = this.pendingReloads.get(id);
    if (pending === undefined || !pending.waiting.delete(member)) return;
    pending.answers.set(member, answer);
    if (pending.waiting.size === 0) {
      this.pendingReloads.delete(id);
      pending.done();
    }
  }

  services(): ServiceStatus[] {
    const perWorker: ServiceStatus[][] = [];
    for (const slot of this.slots) {
      for (const m of [slot.member, ...slot.retiring]) if (m?.report) perWorker.push(m.report.services);
    }
    return sumServices(perWorker);
  }

  serviceStatus(name: string): ServiceStatus | undefined {
    return this.services().find((s) => s.name === name && s.state !== 'draining');
  }

  liveRelays(): number {
    let live = 0;
    for (const m of this.members()) live += m.report?.liveRelays ?? 0;
    return live;
  }

  relayEngine(): { kind: 'native' | 'js'; fallback: string | null } | null {
    for (const m of this.members()) {
      if (m.report !== null) return { kind: m.report.relayEngine, fallback: m.report.relayEngineFallback };
    }
    return null;
  }

  status(): unknown {
    const now = Date.now();
    return {
      count: this.slots.length,
      scheduling: this.scheduling(),
      rolling: this.rolling !== null,
      deltas: { batches: this.hub?.batches ?? 0, rows: this.hub?.rows ?? 0, logRows: this.hub?.logRows ?? 0 },
      limits: this.limits?.status() ?? null,
      quotaBound: quotaBound(this.slots.length),
      slots: this.slots.map((s) => s.toJSON(now)),
      uptimeSeconds: Math.round((now - this.startedAt) / 1000),
    };
  }

  /** How the listeners are shared: `reuseport`, or node:cluster's `rr` / `none`. */
  private scheduling(): string {
    if (this.table !== null) return 'reuseport';
    return cluster.schedulingPolicy === cluster.SCHED_RR ? 'rr' : 'none';
  }

  caches(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const slot of this.slots) {
      const caches = slot.member?.report?.caches;
      if (caches === undefined) continue;
      for (const [name, value] of Object.entries(caches)) {
        const byWorker = (out[name] ??= {}) as Record<string, unknown>;
        byWorker[`worker${slot.index}`] = value;
      }
    }
    return out;
  }

  closeUser(id: string, reason: string): number {
    this.broadcast({ t: 'closeUser', user: id, reason });
    return 0;
  }

  resetUsage(id: string): void {
    this.broadcast({ t: 'resetUsage', user: id });
  }

  routes(): AdminRoute[] {
    return workerRoutes(this);
  }

  /**
   * Replaces the workers one at a time: a new one listens before the old one stops accepting and drains, so no
   * request is dropped. A failed slot gets a fresh start. One rolling restart at a time.
   */
  restartAll(): Promise<void> {
    this.rolling ??= this.roll().finally(() => {
      this.rolling = null;
    });
    return this.rolling;
  }

  private async roll(): Promise<void> {
    this.log.info({ workers: this.slots.length }, 'rolling restart of the workers');
    for (const slot of this.slots) {
      if (this.stopping) return;
      if (slot.timer !== null) {
        clearTimeout(slot.timer);
        slot.timer = null;
      }
      slot.clearCrashes();
      const old = slot.member;
      if (old !== null) old.expected = true;
      slot.restarts++;
      try {
        await this.spawn(slot);
      } catch (err) {
        if (old !== null) old.expected = false;
        this.log.error({ worker: slot.index, err: (err as Error).message }, 'rolling restart: the new worker failed');
        throw err;
      }
      if (old !== null && old !== slot.member) {
        slot.retiring.push(old);
        await this.drain(old, this.config!.shutdownGraceMs);
      }
    }
    this.log.info('rolling restart done');
  }

  /** Asks a worker to drain; resolves once it exited (SIGKILL past the grace and a margin). */
  private drain(member: Member, graceMs: number): Promise<void> {
    const worker: Worker = member.worker;
    if (worker.process.exitCode !== null || worker.process.signalCode !== null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(function drainTimedOut() {
        worker.process.kill('SIGKILL');
      }, graceMs + EXIT_MARGIN_MS);
      timer.unref();
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.send(member, { t: 'stop', graceMs });
    });
  }

  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    for (const slot of this.slots) {
      if (slot.timer !== null) clearTimeout(slot.timer);
      slot.timer = null;
    }
    // Once the workers close theirs, the listening sockets are gone: new connections are refused, as in one process.
    this.table?.closeAll();
    await Promise.all(this.members().map((m) => {
      m.expected = true;
      return this.drain(m, graceMs);
    }));
    // Every worker's last batch was acknowledged before it exited: the ledger has it all.
    this.hub?.close();
  }
}

/**
 * How far a byte quota can be passed with N workers (docs/workers.md): each worker's engine budget is 1/N of what it
 * knows is left, never below the floor, so past the quota each worker relays at most its floor plus what it moves
 * before the others' usage reaches it (one delta batch, then one usage broadcast).
 */
function quotaBound(workers: number): Record<string, unknown> {
  return {
    workers, shareFloorBytes: SHARE_FLOOR_BYTES, deltaBatchMs: DELTA_BATCH_MS, usageBroadcastMs: USAGE_BROADCAST_MS,
    overshootBytes: `${workers} x ${SHARE_FLOOR_BYTES} + what the workers relay in ` +
      `${DELTA_BATCH_MS + USAGE_BROADCAST_MS} ms`,
  };
}
