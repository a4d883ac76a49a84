import type { Socket } from 'node:net';
import type { HealthCheckConfig } from '../../../config/types.js';
import type { DialOptions } from '../../../contracts/relay-engine.js';
import { HealthCheck, type HealthListener } from '../../../health/health-check.js';
import { dial } from '../../dial.js';
import type { Destination } from '../socks5.js';
import { upstreamProbe } from './probe.js';
import { dialThroughUpstream } from './tunnel.js';

/** What every way to an upstream offers: its proxies in the order to try them now (up ones first). */
export interface UpstreamRoute {
  readonly name: string;
  order(): readonly UpstreamProxy[];
}

/**
 * One upstream proxy (`socks5://` or `http://`, credentials in the URL) with its health: probed by a HealthCheck
 * while its service runs (unless `check: false`), and told of every failed dial through it.
 */
export class UpstreamProxy implements UpstreamRoute {
  readonly name: string;
  readonly url: URL;
  readonly health: HealthCheck;
  /** Tunnels and plain connections opened through it, and dials through it that failed. */
  opened = 0;
  failed = 0;
  private readonly alone: readonly UpstreamProxy[];

  constructor(name: string, url: URL, check: HealthCheckConfig, listener: HealthListener | null) {
    this.name = name;
    this.url = url;
    this.health = new HealthCheck('upstream', name, publicUrl(url), check, upstreamProbe(url), listener);
    this.alone = [this];
  }

  /** Whether it is an HTTP proxy (plain requests go to it with their absolute URI). */
  get speaksHttp(): boolean {
    return this.url.protocol === 'http:';
  }

  order(): readonly UpstreamProxy[] {
    return this.alone;
  }

  /** A tunnel to `dest` through this proxy (SOCKS5 CONNECT or HTTP CONNECT). */
  async tunnel(
    dest: Destination, options: DialOptions, handshakeTimeoutMs: number, abort: AbortSignal,
  ): Promise<Socket> {
    try {
      const socket = await dialThroughUpstream(this.url, dest, { ...options, handshakeTimeoutMs }, abort);
      this.opened++;
      this.health.observe(true);
      return socket;
    } catch (err) {
      this.dialFailed(err as Error, abort);
      throw err;
    }
  }

  /** A plain connection to this HTTP proxy itself. */
  async connect(options: DialOptions, abort: AbortSignal): Promise<Socket> {
    const port = Number(this.url.port || 80);
    try {
      const socket = await dial({ host: this.url.hostname.replace(/^\[|\]$/g, ''), port }, options, abort);
      this.opened++;
      this.health.observe(true);
      return socket;
    } catch (err) {
      this.dialFailed(err as Error, abort);
      throw err;
    }
  }

  /** Basic credentials for Proxy-Authorization, from the URL, or null. */
  credentials(): string | null {
    const url = this.url;
    if (!url.username) return null;
    const text = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    return `Basic ${Buffer.from(text).toString('base64')}`;
  }

  private dialFailed(err: Error, abort: AbortSignal): void {
    // The client leaving, or the upstream saying the destination is unreachable, says nothing of the upstream.
    if (abort.aborted || isDestinationRefusal(err)) return;
    this.failed++;
    this.health.observe(false, err);
  }
}

/** A route's proxies in the order picked once (a plain request looks at the first, then dials in that order). */
export class PinnedRoute implements UpstreamRoute {
  readonly name: string;
  private readonly list: readonly UpstreamProxy[];

  constructor(name: string, list: readonly UpstreamProxy[]) {
    this.name = name;
    this.list = list;
  }

  order(): readonly UpstreamProxy[] {
    return this.list;
  }
}

/** A refusal about the destination (see UpstreamProxyError.destinationRefused). */
export function isDestinationRefusal(err: Error): boolean {
  return (err as { destinationRefused?: boolean }).destinationRefused === true;
}

/** The URL without its credentials, for status and logs. */
export function publicUrl(url: URL): string {
  return `${url.protocol}//${url.host}`;
}
