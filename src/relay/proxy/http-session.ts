import type { Socket } from 'node:net';
import type {
  CloseReason,
  Relay,
  RelayCloseListener,
  RelayEngine,
  RelayOptions,
} from '../../contracts/relay-engine.js';
import type { RelayRoute } from '../tcp-service.js';

/** Sessions count down from -1 so their ids never meet an engine relay's. */
let nextSessionId = -1;

/** The record's target of a session: the last origin it went to (set as requests are routed). */
export class SessionRoute implements RelayRoute {
  targetLabel = '';
  readonly liveCount = null;

  get unconnectedTargetLabel(): string {
    return this.targetLabel;
  }

  unconnectedReason(reason: CloseReason): string {
    return reason;
  }
}

/**
 * One client connection of plain HTTP proxying, as the service and accounting see a relay: its bytes are the client
 * socket's (read: client→target, written: target→client), read only when sampled, never counted per chunk. A
 * WebSocket upgrade or a CONNECT on the same connection turns it into an engine relay (`tunnel`); its bytes then
 * add to what the session had moved, and its end is the session's end. Quota cuts close the client socket.
 */
export class HttpSession implements Relay {
  readonly id: number;
  ownerSlot = -1;
  readonly startedAt: number;
  readonly client: Socket;
  readonly user: string | null;
  readonly route: SessionRoute;
  private readonly options: RelayOptions;
  private readonly onClose: RelayCloseListener;
  private tunnel: Relay | null = null;
  private baseIn = 0;
  private baseOut = 0;
  private reason: CloseReason | null = null;
  private finished = false;
  /** The first request's login was checked by the service's strict reader: the HTTP side need not check it again. */
  firstLoginChecked = true;

  constructor(
    client: Socket,
    user: string | null,
    route: SessionRoute,
    options: RelayOptions,
    onClose: RelayCloseListener,
  ) {
    this.id = nextSessionId--;
    if (nextSessionId < -(2 ** 52)) nextSessionId = -1;
    this.startedAt = performance.now();
    this.client = client;
    this.user = user;
    this.route = route;
    this.options = options;
    this.onClose = onClose;
    this.clientClosed = this.clientClosed.bind(this);
    client.once('close', this.clientClosed);
  }

  get bytesIn(): number {
    return this.tunnel === null ? this.client.bytesRead : this.baseIn + this.tunnel.bytesIn;
  }

  get bytesOut(): number {
    return this.tunnel === null ? this.client.bytesWritten : this.baseOut + this.tunnel.bytesOut;
  }

  get tunnelled(): boolean {
    return this.tunnel !== null;
  }

  close(reason: CloseReason = 'closed'): void {
    if (this.finished) return;
    this.reason ??= reason;
    if (this.tunnel !== null) this.tunnel.close(reason);
    else this.client.destroy();
  }

  /**
   * Hands the client and `target` to the relay engine (after a 101 or a CONNECT's 200). The engine owns both sockets
   * from here; the session ends when the relay does.
   */
  startTunnel(engine: RelayEngine, target: Socket): void {
    const client = this.client;
    client.removeListener('close', this.clientClosed);
    // The HTTP server's inactivity timer must not fire on a socket the engine now owns.
    client.setTimeout(0);
    this.baseIn = client.bytesRead;
    this.baseOut = client.bytesWritten;
    const session = this;
    this.tunnel = engine.start(client, target, this.options, function tunnelClosed(_relay, result) {
      session.finish(session.reason ?? result.reason);
    });
  }

  private clientClosed(): void {
    this.finish(this.reason ?? (this.client.errored ? 'client_reset' : 'done'));
  }

  private finish(reason: CloseReason): void {
    if (this.finished) return;
    this.finished = true;
    const result = {
      connected: true,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      reason,
      durationMs: performance.now() - this.startedAt,
    };
    this.onClose(this, result);
  }
}
