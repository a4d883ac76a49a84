import type { Socket } from 'node:net';
import type { ForwardServiceConfig } from '../config/schema.js';
import { UpstreamUnavailableError } from '../errors.js';
import type { ServiceContext } from '../service.js';
import { DialAttempt, type DialListener, type DialOptions } from './dial.js';
import { type Target, TargetPool } from './target-pool.js';
import { isOutOfFds, type PendingClient, TcpService } from './tcp-service.js';

/** Test switch for the perf gate: delays every new connection by this many ms. Never set in production. */
const SLOW_MS = Number(process.env.TIDEGATE_SLOW_MS ?? 0);

/** L4 TCP forwarding to one of several targets, chosen by strategy, with failover before the client notices. */
export class ForwardService extends TcpService<ForwardServiceConfig, ForwardConnection> {
  private targets: TargetPool;
  private dialOptions: DialOptions;

  constructor(config: ForwardServiceConfig, context: ServiceContext) {
    super(config, context);
    this.targets = new TargetPool(config.targets, config.strategy, config.targetBackoffMs, config.connectTimeoutMs);
    this.dialOptions = dialOptionsOf(config);
  }

  override update(next: ForwardServiceConfig, context: ServiceContext): void {
    super.update(next, context);
    // New connections use the new targets; live relays keep theirs. Health of kept targets carries over.
    this.targets = new TargetPool(next.targets, next.strategy, next.targetBackoffMs, next.connectTimeoutMs, this.targets);
    this.dialOptions = dialOptionsOf(next);
  }

  protected override onStopped(): void {
    this.targets.close();
  }

  protected override detail(): Record<string, unknown> {
    return {
      strategy: this.config.strategy,
      targets: this.targets.targets.map((t) => ({ address: t.label, live: t.live, up: t.up, failures: t.failures })),
    };
  }

  protected admit(client: Socket, clientLabel: string): ForwardConnection {
    return new ForwardConnection(this, client, clientLabel);
  }

  protected handle(conn: ForwardConnection): void {
    if (SLOW_MS > 0) setTimeout(startForward, SLOW_MS, conn);
    else conn.next();
  }

  /** @internal ForwardConnection found a target: relay, or drop it if the client went away meanwhile. */
  connected(conn: ForwardConnection, target: Target, upstream: Socket): void {
    this.targets.markUp(target);
    if (!this.isPending(conn) || conn.client.destroyed) {
      target.live--;
      upstream.destroy();
      this.finishWithoutRelay(conn, '', 'client_gone');
      return;
    }
    this.relay(conn, upstream, target.label, target);
  }

  /** @internal a target failed: mark it down unless the failure is ours (out of fds). Returns whether to go on. */
  targetFailed(target: Target, err: Error): boolean {
    target.live--;
    if (isOutOfFds(err as NodeJS.ErrnoException)) {
      // Our problem, not the target's: don't mark it down, and stop trying others that would fail alike.
      this.outOfFds(err as NodeJS.ErrnoException);
      return false;
    }
    this.targets.markDown(target);
    this.context.log.warn({ service: this.name, target: target.label, err: err.message }, 'target failed; trying the next');
    return true;
  }

  /** @internal every target failed, or the client went away while dialing. */
  gaveUp(conn: ForwardConnection, clientGone: boolean, lastError: Error | null): void {
    if (clientGone) {
      this.finishWithoutRelay(conn, '', 'client_gone');
      return;
    }
    const err = new UpstreamUnavailableError(`every target of "${this.name}" failed: ${lastError?.message ?? 'no targets'}`);
    this.context.log.error({ service: this.name, code: err.code }, err.message);
    this.finishWithoutRelay(conn, '', 'upstream_unavailable');
  }

  /** @internal for ForwardConnection */
  get targetPool(): TargetPool {
    return this.targets;
  }

  /** @internal for ForwardConnection */
  get currentDialOptions(): DialOptions {
    return this.dialOptions;
  }
}

function dialOptionsOf(config: ForwardServiceConfig): DialOptions {
  return { timeoutMs: config.connectTimeoutMs, noDelay: config.noDelay, keepAliveMs: config.keepAliveMs };
}

function startForward(conn: ForwardConnection): void {
  conn.next();
}

/**
 * One client on its way to a target: tries targets in strategy order until one connects, then hands both sockets
 * to the service's relay; closes the client only when every target fails. A plain object with callbacks (no
 * Promise, no AbortController): this runs once per connection.
 */
class ForwardConnection implements DialListener, PendingClient {
  readonly service: ForwardService;
  readonly client: Socket;
  readonly clientLabel: string;
  pendingSlot = -1;
  private readonly order: Target[];
  private index = 0;
  private attempt: DialAttempt | null = null;
  private target: Target | null = null;
  private lastError: Error | null = null;
  private gone = false;
  /** The client's 'close'/'error' listener while dialing (a destroyed pending client cancels the dial). */
  private readonly onClientGone: () => void;

  constructor(service: ForwardService, client: Socket, clientLabel: string) {
    this.service = service;
    this.client = client;
    this.clientLabel = clientLabel;
    this.order = service.targetPool.order();
    this.onClientGone = (): void => this.clientGone();
    client.on('close', this.onClientGone);
    client.on('error', this.onClientGone);
  }

  /** Dials the next target in order, or gives up. */
  next(): void {
    if (this.index >= this.order.length) {
      this.finish();
      return;
    }
    const target = this.order[this.index++]!;
    target.live++;
    this.target = target;
    let attempt: DialAttempt;
    try {
      attempt = new DialAttempt(target.address, this.service.currentDialOptions, this);
    } catch (err) {
      // net.connect() throwing (bad options) fails this target like a refused connect, never the listener.
      this.dialFailed(null, err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.attempt = attempt;
  }

  dialed(_attempt: DialAttempt, socket: Socket): void {
    const target = this.target!;
    this.attempt = null;
    this.target = null;
    this.unlisten();
    this.service.connected(this, target, socket);
  }

  dialFailed(_attempt: DialAttempt | null, err: Error): void {
    const target = this.target!;
    this.attempt = null;
    this.target = null;
    this.lastError = err;
    if (this.service.targetFailed(target, err)) this.next();
    else this.finish();
  }

  private clientGone(): void {
    if (this.gone) return;
    this.gone = true;
    const attempt = this.attempt;
    if (attempt === null) return;
    this.attempt = null;
    attempt.cancel();
    this.target!.live--;
    this.target = null;
    this.finish();
  }

  private finish(): void {
    this.unlisten();
    this.service.gaveUp(this, this.gone, this.lastError);
  }

  private unlisten(): void {
    this.client.removeListener('close', this.onClientGone);
    this.client.removeListener('error', this.onClientGone);
  }
}
