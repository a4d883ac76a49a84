import type { Socket } from 'node:net';
import type { AcceptProxyProtocolConfig, PerIpConfig } from '../config/types.js';
import type { ProxyProtocolError } from '../errors.js';
import type { Logger } from '../log.js';
import { type CidrRange, parseCidr } from '../util/cidr.js';
import { parseIp } from '../util/ip.js';
import { type AddressEntry, type AddressRateFactory, PerIpLimits } from './per-ip.js';
import { HeaderReader, type HeaderListener } from './proxy-protocol/header-reader.js';
import type { ProxyHeader } from './proxy-protocol/parse.js';
import { Refusals } from './refusals.js';

/** The listener a screen lets clients through to. */
export interface ScreenListener {
  /**
   * Whether the service still takes a client whose PROXY header has just been read (it may be draining or full
   * meanwhile); when it does not, it has closed the socket itself.
   */
  stillTakes(client: Socket): boolean;
  /**
   * A client the screen let through: its address and port (a trusted PROXY header's source, else the socket's), the
   * header when one was read (LOCAL / UNKNOWN included), and its `perIp` entry (null without `perIp`).
   */
  screened(client: Socket, address: string, port: number, header: ProxyHeader | null, entry: AddressEntry | null): void;
}

/**
 * Who a new connection's client is, and whether that address may connect: `acceptProxyProtocol` (only trusted peers,
 * the header read with a deadline) and `perIp` admission, with every refusal counted by reason and the socket closed.
 * One per listening service (forward, proxy, gateway); a reload reconfigures it in place.
 */
export class ClientScreen implements HeaderListener {
  /** Refusals by reason, for `/status` `detail.refusedBy` (a gateway adds its `per_ip_rate` requests). */
  readonly refusals = new Refusals();
  /** Connections this screen closed: the service's refused count includes them. */
  refused = 0;
  /** `perIp` admission, or null without `perIp`. */
  perIp: PerIpLimits | null = null;
  /** Peers trusted to send a PROXY header (`acceptProxyProtocol.from`), or null when no header is read. */
  private trusted: CidrRange[] | null = null;
  private timeoutMs = 0;
  private readonly service: string;
  private readonly log: () => Logger;
  private readonly listener: ScreenListener;
  /** Makes the byte bucket an address's relays share (forward / proxy); null where `perIp.rate` counts requests. */
  private readonly rateFactory: AddressRateFactory | null;

  constructor(service: string, log: () => Logger, listener: ScreenListener, rateFactory: AddressRateFactory | null) {
    this.service = service;
    this.log = log;
    this.listener = listener;
    this.rateFactory = rateFactory;
  }

  /** `perIp` and `acceptProxyProtocol` of a (re)loaded config; live per-address counts carry over. */
  configure(perIp: PerIpConfig | null, accept: AcceptProxyProtocolConfig | null): void {
    if (perIp === null) {
      this.perIp?.dispose();
      this.perIp = null;
    } else if (this.perIp === null) {
      this.perIp = new PerIpLimits(perIp, this.rateFactory);
    } else {
      this.perIp.update(perIp);
    }
    this.trusted = accept === null ? null : accept.from.map((text) => parseCidr(text) as CidrRange);
    this.timeoutMs = accept === null ? 0 : accept.timeoutMs;
  }

  /** Whether a connection needs screening at all (without either option it goes straight to the service). */
  get active(): boolean {
    return this.trusted !== null || this.perIp !== null;
  }

  /** A new connection: let through to `screened` (at once, or once its header is read), or refused and closed. */
  screen(client: Socket): void {
    const trusted = this.trusted;
    if (trusted === null) {
      this.admit(client, client.remoteAddress ?? '', client.remotePort ?? 0, null);
      return;
    }
    // A peer that reset before we looked has no address: nothing to trust or refuse, only a socket to close.
    if (client.remoteAddress === undefined) {
      client.destroy();
      return;
    }
    // Only a trusted peer may say who the client is; anyone else reaching this listener is closed.
    const key = parseIp(client.remoteAddress);
    if (key === null || !trusted.some((range) => range.contains(key))) {
      this.refuse(client, 'proxy_untrusted');
      this.log().warn(
        { service: this.service, client: client.remoteAddress }, 'connection from a peer not trusted to send PROXY',
      );
      return;
    }
    new HeaderReader(client, this.timeoutMs, this);
  }

  /** @internal HeaderListener: the trusted peer said who the client is. */
  headerRead(client: Socket, header: ProxyHeader): void {
    if (!this.listener.stillTakes(client)) return;
    // LOCAL / UNKNOWN: the peer's own connection (a health check), its own address stands.
    if (header.sourceAddress === null) this.admit(client, client.remoteAddress ?? '', client.remotePort ?? 0, header);
    else this.admit(client, header.sourceAddress, header.sourcePort, header);
  }

  /** @internal HeaderListener: malformed, late or cut short. */
  headerFailed(client: Socket, err: ProxyProtocolError): void {
    this.refuse(client, err.reason === 'timeout' ? 'proxy_timeout' : 'proxy_malformed');
    this.log().warn(
      { service: this.service, client: client.remoteAddress, code: err.code, err: err.message },
      'PROXY header refused',
    );
  }

  /** An admitted address's connection ended (or was turned away after admission). */
  release(address: string): void {
    this.perIp?.release(address);
  }

  /** The service stopped: per-address byte buckets are released. */
  dispose(): void {
    this.perIp?.dispose();
  }

  private admit(client: Socket, address: string, port: number, header: ProxyHeader | null): void {
    let entry: AddressEntry | null = null;
    const perIp = this.perIp;
    if (perIp !== null) {
      const admitted = perIp.admit(address, Date.now());
      if (typeof admitted === 'string') {
        this.refuse(client, admitted);
        return;
      }
      entry = admitted;
    }
    this.listener.screened(client, address, port, header, entry);
  }

  private refuse(client: Socket, reason: keyof Refusals): void {
    this.refused++;
    this.refusals[reason]++;
    client.destroy();
  }
}
