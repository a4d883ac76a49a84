import type { Socket } from 'node:net';
import type { ForwardServiceConfig } from '../config/schema.js';
import { UpstreamUnavailableError } from '../errors.js';
import type { ServiceContext } from '../service.js';
import { dial } from './dial.js';
import { TargetPool } from './target-pool.js';
import { isOutOfFds, TcpService } from './tcp-service.js';

/** Test switch for the perf gate: delays every new connection by this many ms. Never set in production. */
const SLOW_MS = Number(process.env.TIDEGATE_SLOW_MS ?? 0);

/** L4 TCP forwarding to one of several targets, chosen by strategy, with failover before the client notices. */
export class ForwardService extends TcpService<ForwardServiceConfig> {
  private targets: TargetPool;

  constructor(config: ForwardServiceConfig, context: ServiceContext) {
    super(config, context);
    this.targets = new TargetPool(config.targets, config.strategy, config.targetBackoffMs, config.connectTimeoutMs);
  }

  override update(next: ForwardServiceConfig, context: ServiceContext): void {
    super.update(next, context);
    // New connections use the new targets; live relays keep theirs. Health of kept targets carries over.
    this.targets = new TargetPool(next.targets, next.strategy, next.targetBackoffMs, next.connectTimeoutMs, this.targets);
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

  protected handle(client: Socket): void {
    const clientLabel = `${client.remoteAddress}:${client.remotePort}`;
    if (SLOW_MS > 0) setTimeout(() => void this.connect(client, clientLabel), SLOW_MS);
    else void this.connect(client, clientLabel);
  }

  /** Tries targets in strategy order until one connects, then relays; closes the client only when all fail. */
  private async connect(client: Socket, clientLabel: string): Promise<void> {
    const abort = new AbortController();
    function clientGone(): void {
      abort.abort(new Error('client closed before the target connected'));
    }
    client.once('close', clientGone);
    client.once('error', clientGone);
    const pool = this.targets;
    const config = this.config;
    const dialOptions = { timeoutMs: config.connectTimeoutMs, noDelay: config.noDelay, keepAliveMs: config.keepAliveMs };
    let lastError: Error | null = null;
    for (const target of pool.order()) {
      if (abort.signal.aborted) break;
      target.live++;
      let upstream: Socket;
      try {
        upstream = await dial(target.address, dialOptions, abort.signal);
      } catch (err) {
        target.live--;
        if (abort.signal.aborted) break;
        lastError = err as Error;
        if (isOutOfFds(err as NodeJS.ErrnoException)) {
          // Our problem, not the target's: don't mark it down, and stop trying others that would fail alike.
          this.outOfFds(err as NodeJS.ErrnoException);
          break;
        }
        pool.markDown(target);
        this.context.log.warn({ service: this.name, target: target.label, err: lastError.message }, 'target failed; trying the next');
        continue;
      }
      client.removeListener('close', clientGone);
      client.removeListener('error', clientGone);
      pool.markUp(target);
      if (!this.isPending(client) || client.destroyed) {
        target.live--;
        upstream.destroy();
        break;
      }
      this.relay(client, upstream, clientLabel, target.label, function targetReleased() {
        target.live--;
      });
      return;
    }
    client.removeListener('close', clientGone);
    client.removeListener('error', clientGone);
    if (abort.signal.aborted) {
      this.finishWithoutRelay(client, clientLabel, '', 'client_gone');
      return;
    }
    const err = new UpstreamUnavailableError(`every target of "${this.name}" failed: ${lastError?.message ?? 'no targets'}`);
    this.context.log.error({ service: this.name, code: err.code }, err.message);
    this.finishWithoutRelay(client, clientLabel, '', 'upstream_unavailable');
  }
}
