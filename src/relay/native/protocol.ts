import type { CloseReason } from '../../contracts/relay-engine.js';

/**
 * The TypeScript mirror of native/protocol.h: the argument slots of the addon's calls, the close reasons, the layout
 * and codes of a stats record, and the limits the addon checks. test/native/protocol.test.ts compares every name and
 * value here with the addon's `protocol` export, so a change on one side only fails there, not in a relay.
 *
 * Each call's arguments are a labelled tuple (`StartArgs`) whose positions are the slots (`StartArg`): the engine
 * fills one reused tuple by slot name, so a slot moved on either side is a compile error or a failed test.
 */

export const StartArg = {
  id: 0,
  clientFd: 1,
  targetFd: 2,
  pendingToTarget: 3,
  pendingToClient: 4,
  idleTimeoutMs: 5,
  halfCloseTimeoutMs: 6,
  limitId: 7,
  budgetId: 8,
} as const;
export type StartArgs = [
  id: number,
  clientFd: number,
  targetFd: number,
  pendingToTarget: Buffer | null,
  pendingToClient: Buffer | null,
  idleTimeoutMs: number,
  halfCloseTimeoutMs: number,
  limitId: number,
  budgetId: number,
];

export const DialArg = {
  id: 0,
  clientFd: 1,
  pendingToTarget: 2,
  idleTimeoutMs: 3,
  halfCloseTimeoutMs: 4,
  limitId: 5,
  address: 6,
  connectTimeoutMs: 7,
  reportConnect: 8,
  noDelay: 9,
  keepAliveMs: 10,
  greeting: 11,
  budgetId: 12,
  tuneClient: 13,
  accepted: 14,
} as const;
export type DialArgs = [
  id: number,
  clientFd: number,
  pendingToTarget: Buffer | null,
  idleTimeoutMs: number,
  halfCloseTimeoutMs: number,
  limitId: number,
  address: Buffer | null,
  connectTimeoutMs: number,
  reportConnect: boolean,
  noDelay: boolean,
  keepAliveMs: number,
  greeting: Buffer | null,
  budgetId: number,
  tuneClient: boolean,
  /** clientFd is a connection the addon accepted (`listen`): taken as is, not dup'ed. */
  accepted: boolean,
];

export const RedialArg = { id: 0, address: 1, connectTimeoutMs: 2, reportConnect: 3 } as const;
export type RedialArgs = [id: number, address: Buffer | null, connectTimeoutMs: number, reportConnect: boolean];

export const CloseArg = { id: 0, reason: 1, farewell: 2 } as const;
export type CloseArgs = [id: number, reason: number, farewell: Buffer | null];

export const AddressArg = { host: 0, port: 1 } as const;
export type AddressArgs = [host: string, port: number];

export const CreateLimitArg = { inBytesPerSec: 0, outBytesPerSec: 1 } as const;
export type CreateLimitArgs = [inBytesPerSec: number, outBytesPerSec: number];

export const SetLimitArg = { id: 0, inBytesPerSec: 1, outBytesPerSec: 2 } as const;
export type SetLimitArgs = [id: number, inBytesPerSec: number, outBytesPerSec: number];

/** `limit` < 0: no limit. */
export const SetBudgetArg = { id: 0, limit: 1, countIn: 2, countOut: 3 } as const;
export type SetBudgetArgs = [id: number, limit: number, countIn: boolean, countOut: boolean];

/** takeBudget(id, dir, bytes) and chargeBudget(id, dir, bytes); `dir` 0: client→target, 1: target→client. */
export const TakeBudgetArg = { id: 0, dir: 1, bytes: 2 } as const;
export type TakeBudgetArgs = [id: number, dir: 0 | 1, bytes: number];

/** disposeLimit(id) and disposeBudget(id). */
export const DisposeArg = { id: 0 } as const;
export type DisposeArgs = [id: number];

/**
 * listen(id, fd, noDelay, keepAliveMs, shared): the addon accepts on a dup of the listening socket, which gets the
 * clients' TCP options once (accepted sockets inherit them); unlisten(id) (a DisposeArgs) closes it. `shared`: other
 * processes hold the socket too, so unlisten leaves its queue to them.
 */
export const ListenArg = { id: 0, fd: 1, noDelay: 2, keepAliveMs: 3, shared: 4 } as const;
export type ListenArgs = [id: number, fd: number, noDelay: boolean, keepAliveMs: number, shared: boolean];

/**
 * grant(listenerId, id, …): an admission decided ahead for the listener's next connection: relay `id` starts at that
 * accept, dialing `address`, and an `admitted` record says so. revokeGrant(listenerId) (a DisposeArgs) takes back the
 * newest grant not yet used and returns its relay id, or 0.
 */
export const GrantArg = {
  listenerId: 0,
  id: 1,
  idleTimeoutMs: 2,
  halfCloseTimeoutMs: 3,
  limitId: 4,
  address: 5,
  connectTimeoutMs: 6,
  reportConnect: 7,
  noDelay: 8,
  keepAliveMs: 9,
  budgetId: 10,
  tuneClient: 11,
} as const;
export type GrantArgs = [
  listenerId: number,
  id: number,
  idleTimeoutMs: number,
  halfCloseTimeoutMs: number,
  limitId: number,
  address: Buffer | null,
  connectTimeoutMs: number,
  reportConnect: boolean,
  noDelay: boolean,
  keepAliveMs: number,
  budgetId: number,
  tuneClient: boolean,
];

/** settleAccepted(fd, how): ends the addon's ownership of an accepted connection not dialed (`SettleHow`). */
export const SettleArg = { fd: 0, how: 1 } as const;
export type SettleArgs = [fd: number, how: number];

/** `adopt`: the caller takes the fd (a Node socket wraps it); `close`: FIN; `reset`: RST. */
export const SettleHow = { adopt: 0, close: 1, reset: 2 } as const;

/** Close reasons by their code in a close record. */
export const CloseReasonCode = {
  done: 0,
  client_reset: 1,
  target_reset: 2,
  idle_timeout: 3,
  half_close_timeout: 4,
  closed: 5,
  shutdown: 6,
} as const satisfies Record<CloseReason, number>;

/** A stats record is `RECORD_FIELDS` numbers: [id, bytesIn, bytesOut, code]. */
export const RecordField = { id: 0, bytesIn: 1, bytesOut: 2, code: 3 } as const;
export const RECORD_FIELDS = 4;

/**
 * Record codes beyond the close reasons. `live`: counters of a relay still running; `unconnected` is added to a close
 * reason when an engine-side dial never connected; `connectFailed` carries errno in the bytesIn field; `connected`
 * is sent only when the dial asked for it. `accepted`: [listenerId, fd, labelLength, 34], the label ("address:port")
 * being the next labelLength characters of the batch's label string; `acceptFailed`: [listenerId, errno, paused, 35]
 * (paused 1: out of fds, the addon rests that listener `Limit.acceptPauseMs`); `unlistened`: the listener's last
 * record, after unlisten() (connections it accepted before come first); `admitted`: [listenerId, relayId,
 * labelLength, 37], a connection took a grant (its label as for `accepted`) in takeAdmitted()'s log; a batch carries
 * a marker with labelLength 0 (the log has the label); the relay's own records follow it.
 */
export const RecordCode = {
  live: -1, unconnected: 16, connectFailed: 32, connected: 33, accepted: 34, acceptFailed: 35, unlistened: 36,
  admitted: 37,
} as const;

/** What the addon accepts beyond the types: deadlines are kept in int64 nanoseconds, ids and fds in their C types. */
export const Limit = {
  maxTimeoutMs: 1_000_000_000_000,
  maxFd: 2_147_483_647,
  maxHandleId: 4_294_967_295,
  maxRelayId: Number.MAX_SAFE_INTEGER,
  acceptPauseMs: 500,
} as const;

/** The addon's `protocol` export: the tables above under the names native/addon.cc gives them. */
export const PROTOCOL = {
  startArgs: StartArg,
  dialArgs: DialArg,
  redialArgs: RedialArg,
  closeArgs: CloseArg,
  addressArgs: AddressArg,
  createLimitArgs: CreateLimitArg,
  setLimitArgs: SetLimitArg,
  setBudgetArgs: SetBudgetArg,
  takeBudgetArgs: TakeBudgetArg,
  disposeArgs: DisposeArg,
  listenArgs: ListenArg,
  grantArgs: GrantArg,
  settleArgs: SettleArg,
  settleHows: SettleHow,
  closeReasons: CloseReasonCode,
  recordFields: RecordField,
  recordCodes: RecordCode,
  limits: Limit,
} as const;
export type ProtocolTables = { readonly [K in keyof typeof PROTOCOL]: Readonly<Record<string, number>> };

/** Close reasons by code, for reading close records. */
export const CLOSE_REASONS: readonly CloseReason[] = (Object.keys(CloseReasonCode) as CloseReason[]).sort(
  (a, b) => CloseReasonCode[a] - CloseReasonCode[b],
);

/**
 * Fresh argument tuples, one per engine, reused for every call (filled by slot, their Buffers released after the
 * call). Their lengths are checked against the slot tables by the protocol test.
 */
export function newStartArgs(): StartArgs {
  return [0, -1, -1, null, null, 0, 0, 0, 0];
}

export function newDialArgs(): DialArgs {
  return [0, -1, null, 0, 0, 0, null, 0, false, false, 0, null, 0, false, false];
}

export function newGrantArgs(): GrantArgs {
  return [0, 0, 0, 0, 0, null, 0, false, false, 0, 0, false];
}

export function newRedialArgs(): RedialArgs {
  return [0, null, 0, false];
}

/**
 * How an addon's `protocol` export differs from this mirror: one line per missing, extra or different name (empty
 * when they agree). The loader refuses a mismatching addon (a stale build) so the JavaScript relay takes over.
 */
export function protocolMismatches(actual: unknown): string[] {
  const out: string[] = [];
  const tables = (typeof actual === 'object' && actual !== null ? actual : {}) as Record<string, unknown>;
  for (const name of new Set([...Object.keys(PROTOCOL), ...Object.keys(tables)])) {
    const mine = (PROTOCOL as Record<string, Readonly<Record<string, number>>>)[name];
    const raw = tables[name];
    const theirs = (typeof raw === 'object' && raw !== null ? raw : undefined) as Record<string, unknown> | undefined;
    if (mine === undefined) out.push(`${name}: exported by the addon, missing in the mirror`);
    else if (theirs === undefined) out.push(`${name}: missing in the addon`);
    else {
      for (const key of new Set([...Object.keys(mine), ...Object.keys(theirs)])) {
        if (!Object.hasOwn(theirs, key)) out.push(`${name}.${key}: missing in the addon`);
        else if (!Object.hasOwn(mine, key)) out.push(`${name}.${key}: exported by the addon, missing in the mirror`);
        else if (theirs[key] !== mine[key]) {
          out.push(`${name}.${key}: addon ${String(theirs[key])}, mirror ${mine[key]}`);
        }
      }
    }
  }
  return out;
}
