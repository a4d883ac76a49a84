import { BodyBudgetError, BodyTimeoutError, BodyTooLargeError, type GatewayError } from '../errors.js';
import type { BodyBudget } from './body-budget.js';
import type { BodyReader, GatewayRequest, GatewayResponse } from './http-types.js';
import { LONG_BODY_INLINE_BYTES } from './codec.js';
import { DISCARD_MAX_BYTES, lingerOnClose } from './linger.js';

/**
 * A body of at least this many bytes in several reads is kept as node:http read it (`parts`), not copied into one
 * buffer: a large pass-through body goes upstream from its reads (no copy, and no second body-sized allocation, whose
 * external memory drives V8's full collections), and is read for routing through a reused scratch buffer. Up to
 * the size read inline (LONG_BODY_INLINE_BYTES): a declared larger one needs one buffer for the pool anyway, and is
 * copied into it as it comes, so many large bodies held at once stay single allocations (see onBodyChunk).
 */
export const PARTS_MIN_BYTES = 64 * 1024;
const PARTS_MAX_BYTES = LONG_BODY_INLINE_BYTES;

/** The service's limits now (the GatewayCore; read per chunk: a reload applies to bodies still arriving). */
export interface BodyLimits {
  readonly config: { readonly maxBodyBytes: number };
}

/** Who takes the body (the Exchange). */
export interface BodyOwner {
  /** The whole body arrived (in `body`). */
  onBody(): void;
  /** Answers a refusal; the connection is already set to close, lingering. */
  fail(err: GatewayError): void;
}

/**
 * One request's body: charged to the process-wide body budget (before it is read when its length is declared, else
 * chunk by chunk), bounded by maxBodyBytes, refused early (413, 503, 408) with a lingering close, and discarded
 * (bounded) once the exchange answered. Chunks come straight from node:http's parser (GatewayRequest.push).
 */
export class BodyIntake implements BodyReader {
  readonly owner: BodyOwner;
  readonly limits: BodyLimits;
  readonly req: GatewayRequest;
  readonly res: GatewayResponse;
  /** The process-wide body budget this body is charged to. */
  readonly budget: BodyBudget;
  /** Bytes of the budget this body holds; given back once, in release(). */
  charged = 0;
  /** The body has no declared length: it is charged chunk by chunk. */
  chargeChunks = false;
  /** The whole body arrived. */
  arrived = false;
  /** The exchange answered (or let go of the body): later chunks are read and dropped. */
  closed = false;
  /** Body bytes read and thrown away after the exchange answered early. */
  discarded = 0;
  /** The body's declared length, or -1 (chunked). */
  declared = -1;
  chunks: Buffer[] = [];
  bytes = 0;
  /** The whole body in one buffer, or null when it is in `parts`. */
  body: Buffer | null = null;
  /** A large body as it was read (PARTS_MIN_BYTES), in order; null when it is in `body`. */
  parts: Buffer[] | null = null;

  constructor(owner: BodyOwner, limits: BodyLimits, req: GatewayRequest, res: GatewayResponse, budget: BodyBudget) {
    this.owner = owner;
    this.limits = limits;
    this.req = req;
    this.res = res;
    this.budget = budget;
  }

  /**
   * Takes the body: refuses it at once when its declared length is over maxBodyBytes (413) or over what is left of the
   * budget (503), else charges it. The body is read either way: a refused one is discarded (bounded) so the client
   * can read the answer. `declared` is NaN for a chunked body. Returns false when it refused. Then call read().
   */
  start(declared: number): boolean {
    this.req.bodyReader = this;
    const max = this.limits.config.maxBodyBytes;
    let accepted = true;
    if (declared > max) accepted = this.refuse(new BodyTooLargeError(max, declared));
    else if (!(declared >= 0)) this.chargeChunks = true;
    else if (this.budget.charge(declared)) {
      this.charged = declared;
      this.declared = declared;
    } else accepted = this.refuse(this.budgetError());
    return accepted;
  }

  /**
   * Starts reading: read(0) does it as any consumer does, so node:http knows the body is taken and does not drain it
   * again after the response.
   */
  read(): void {
    this.req.read(0);
  }

  /** A chunk of the request body, straight from node:http's parser. */
  onBodyChunk(chunk: Buffer): void {
    if (this.closed) {
      // Answered early: read and drop, up to a bound (see linger.ts).
      this.discarded += chunk.length;
      if (this.discarded > DISCARD_MAX_BYTES) this.req.socket.destroy();
      return;
    }
    const n = chunk.length;
    this.bytes += n;
    const max = this.limits.config.maxBodyBytes;
    if (this.bytes > max) {
      this.refuse(new BodyTooLargeError(max, this.bytes));
      return;
    }
    if (this.chargeChunks) {
      if (!this.budget.charge(n)) {
        this.refuse(this.budgetError());
        return;
      }
      this.charged += n;
    }
    const declared = this.declared;
    if (declared > 0 && n !== declared && (declared < PARTS_MIN_BYTES || declared > PARTS_MAX_BYTES)) {
      // A body in several reads is copied into one buffer of its declared size as it comes, instead of keeping every
      // read buffer until the end (then concatenating): the same bytes copied, and a single large allocation the
      // allocator gives back to the system when it is freed, where thousands of held read buffers fragment its heap.
      let body = this.body;
      if (body === null) body = this.body = Buffer.allocUnsafeSlow(this.declared);
      chunk.copy(body, this.bytes - n);
      return;
    }
    this.chunks.push(chunk);
  }

  /** The whole request body arrived. */
  onBodyEnd(): void {
    if (this.closed) return;
    this.arrived = true;
    // One concat for a small body in several reads (none for a single chunk); a large one keeps its reads.
    const chunks = this.chunks;
    if (this.body === null) {
      if (chunks.length === 1) this.body = chunks[0]!;
      else if (this.bytes >= PARTS_MIN_BYTES) this.parts = chunks;
      else this.body = Buffer.concat(chunks, this.bytes);
    }
    this.chunks = [];
    this.owner.onBody();
  }

  /** The body did not arrive within bodyTimeout (the Watchdog's sweep, through the exchange). */
  timedOut(): void {
    if (this.closed) return;
    this.budget.timedOut++;
    const ms = this.budget.timeoutMs;
    const why = `request body did not arrive within bodyTimeout (${ms} ms); got ${this.bytes} bytes`;
    this.refuse(new BodyTimeoutError(why));
  }

  /** Gives the charge back to the budget (once) and lets go of the body; a body still arriving is discarded. */
  release(): void {
    this.closed = true;
    if (this.charged !== 0) {
      this.budget.release(this.charged);
      this.charged = 0;
    }
    this.chunks = [];
    this.body = null;
    this.parts = null;
  }

  private budgetError(): BodyBudgetError {
    const limit = this.budget.limit;
    const err = new BodyBudgetError(
      `request bodies in flight hold the gateway's whole body budget (${limit} bytes); retry later`,
    );
    err.retryAfterSeconds = this.budget.retryAfterSeconds();
    return err;
  }

  /**
   * Answers before the body was read: the connection closes after the answer, lingering so that a client still
   * writing its body reads the answer instead of a reset. Returns false (refused).
   */
  private refuse(err: GatewayError): false {
    this.res.setHeader('connection', 'close');
    lingerOnClose(this.req.socket);
    this.owner.fail(err);
    return false;
  }
}
