import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { ByteBudget } from '../../contracts/rate.js';
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
  /** The user's quota budget (the engine's, shared with the user's relays), or null without a quota. */
  readonly budget: ByteBudget | null;
  /** Wire bytes of each direction booked with the budget so far: [client→target, target→client]. */
  private readonly booked: [number, number] = [0, 0];
  /** The request whose body is being forwarded (watched for the quota), or null. */
  private upload: Readable | null = null;
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
    this.budget = options.byteBudget ?? null;
    this.onClose = onClose;
    this.clientClosed = this.clientClosed.bind(this);
    this.uploaded = this.uploaded.bind(this);
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
   * Books up to `bytes` of a body about to be written to the client (dir 1) with the budget; returns how many may be
   * written. The budget is the one the user's engine relays share, so plain requests stop at the same byte they do.
   */
  take(bytes: number): number {
    const budget = this.budget;
    if (budget === null) return bytes;
    const granted = budget.take(1, bytes);
    this.booked[1] += granted;
    return granted;
  }

  /**
   * Books wire bytes of `dir` not booked yet (message heads, chunk framing, and everything read from the client,
   * whose reads cannot be sized in Node); false when the budget had less left than that (the quota is reached).
   */
  sync(dir: 0 | 1): boolean {
    const budget = this.budget;
    if (budget === null) return true;
    const client = this.client;
    const wire = dir === 0 ? client.bytesRead : client.bytesWritten;
    const unbooked = wire - this.booked[dir];
    if (unbooked <= 0) return true;
    this.booked[dir] = wire;
    if (dir === 1) {
      budget.charge(1, unbooked);
      return true;
    }
    const granted = budget.take(0, unbooked);
    if (granted < unbooked) budget.charge(0, unbooked - granted);
    return granted === unbooked;
  }

  /**
   * Books a request body's bytes as they are read (reads cannot be sized in Node, so an upload passes the quota by
   * at most one read): at the quota the request stops being read, and accounting's cut closes the session.
   */
  watchUpload(req: Readable): void {
    this.sync(0);
    this.upload = req;
    req.on('data', this.uploaded);
  }

  private uploaded(): void {
    if (this.sync(0)) return;
    const req = this.upload;
    if (req === null) return;
    req.unpipe();
    req.pause();
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
    // What the session moved itself is booked now; the engine books the tunnel's bytes.
    this.sync(0);
    this.sync(1);
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
    if (this.tunnel === null) {
      this.sync(0);
      this.sync(1);
    }
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
