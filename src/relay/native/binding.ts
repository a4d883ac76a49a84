import { loadAddonExports } from '../../util/addon.js';
import {
  protocolMismatches,
  type AddressArgs,
  type CloseArgs,
  type CreateLimitArgs,
  type DialArgs,
  type DisposeArgs,
  type ListenArgs,
  type GrantArgs,
  type SettleArgs,
  type ProtocolTables,
  type RedialArgs,
  type SetBudgetArgs,
  type TakeBudgetArgs,
  type SetLimitArgs,
  type StartArgs,
} from './protocol.js';

/** Options of the addon's engine object (native/addon.cc). */
export interface NativeEngineOptions {
  /** Epoll threads; relays are spread over them by id. Default 1. */
  readonly threads?: number;
  /** Wanted pipe size in bytes (capped by /proc/sys/fs/pipe-max-size). Default 1 MiB. */
  readonly pipeSize?: number;
  /** Total pipe capacity the engine may hold at once. Default: half of pipe-user-pages-soft (a process the
   * soft limit does not bind, CAP_SYS_RESOURCE or CAP_SYS_ADMIN: 1/32 of the RAM, at most 1 GiB). */
  readonly pipeBudget?: number;
  /** Empty pipes kept for reuse per thread. Default 64. */
  readonly maxPooledPipes?: number;
  /** Hard cap on pipes open at once (0 = only the budget). Beyond it a direction copies instead. */
  readonly maxPipes?: number;
  /** Test hook: relays copy through buffers as if splice were refused (the EINVAL/ENOSYS fallback). */
  readonly forceCopy?: boolean;
  /** For the TypeScript engine, not the addon: false turns accepting in the addon off (`TIDEGATE_NATIVE_ACCEPT=0`). */
  readonly accept?: boolean;
  /** For the TypeScript engine: false turns admission ahead off (`TIDEGATE_NATIVE_GRANTS=0`). */
  readonly grants?: boolean;
}

export interface NativeEngineStats {
  readonly threads: number;
  readonly pipeTargetSize: number;
  readonly pipeBudget: number;
  readonly pipeBytesOpen: number;
  readonly pipesOpen: number;
  readonly pipesInUse: number;
  readonly pipesPooled: number;
  readonly pipesCreated: number;
  readonly pipesReused: number;
  readonly pipesReduced: number;
  readonly pipesUnavailable: number;
  readonly pipesDiscardedFull: number;
  /** Empty pipes resized (F_SETPIPE_SZ) to follow the fair share of the budget. */
  readonly pipesResized: number;
  readonly liveRelays: number;
  readonly copyFallbacks: number;
  readonly epollFds: readonly number[];
  /** Listening sockets the loops accept on. */
  readonly listeners: number;
  /** Times a listener rested for lack of fds (EMFILE/ENFILE). */
  readonly acceptPauses: number;
  /** Accepted connections JS has not answered yet (dial or settleAccepted). */
  readonly acceptedUnanswered: number;
  /** Admissions granted ahead (`grant`) that no connection has taken yet. */
  readonly grantsWaiting: number;
}

/**
 * The addon's engine object. Each call's arguments are the labelled tuple of its slots in ./protocol.ts (the mirror
 * of native/protocol.h); the addon checks each slot's type and range and throws a TypeError naming the slot. Records
 * arrive as [id, bytesIn, bytesOut, code] quads (`RecordField`, `RecordCode`, `CloseReasonCode`).
 */
export interface NativeEngineBinding {
  start(...args: StartArgs): void;
  /** The sockaddr for `dial` and `redial`; null when `host` is not an IP literal. */
  address(...args: AddressArgs): Buffer | null;
  dial(...args: DialArgs): void;
  redial(...args: RedialArgs): void;
  /** `farewell` goes to the client first when the relay never connected. */
  close(...args: CloseArgs): void;
  listen(...args: ListenArgs): void;
  /** Returns once the addon closed its listening fd. */
  unlisten(...args: DisposeArgs): void;
  settleAccepted(...args: SettleArgs): boolean;
  grant(...args: GrantArgs): void;
  /** The relay id of the newest grant taken back, or 0 when every grant was used. */
  revokeGrant(...args: DisposeArgs): number;
  /** The grants connections took since the last call, as `admitted` records and their labels; undefined for none. */
  takeAdmitted(): [records: Float64Array, labels: string] | undefined;
  createLimit(...args: CreateLimitArgs): number;
  setLimit(...args: SetLimitArgs): void;
  disposeLimit(...args: DisposeArgs): void;
  createBudget(): number;
  /** `limit` < 0: no limit. */
  setBudget(...args: SetBudgetArgs): void;
  disposeBudget(...args: DisposeArgs): void;
  /** Absent in addons built before bytes moved by JS (plain HTTP) could book a budget. */
  takeBudget?(...args: TakeBudgetArgs): number;
  chargeBudget?(...args: TakeBudgetArgs): void;
  ref(): void;
  unref(): void;
  shutdown(): void;
  stats(): NativeEngineStats;
}

export interface NativeAddon {
  NativeRelayEngine: new (
    onStats: (records: Float64Array, labels: string) => void, options: NativeEngineOptions,
  ) => NativeEngineBinding;
  /** The constants of native/protocol.h (compared with ./protocol.ts by test/native/protocol.test.ts). */
  protocol: ProtocolTables;
}

let cached: NativeAddon | null = null;

/** Loads the addon with node-gyp-build: prebuilds/ first, then build/Release. Throws when neither loads. */
export function loadAddon(): NativeAddon {
  if (cached !== null) return cached;
  const addon = loadAddonExports() as Partial<NativeAddon>;
  if (typeof addon.NativeRelayEngine !== 'function') throw new Error('the addon does not export NativeRelayEngine');
  const mismatches = protocolMismatches(addon.protocol);
  if (mismatches.length > 0) {
    const found = mismatches.join('; ');
    throw new Error(
      `the addon's protocol differs from src/relay/native/protocol.ts (a stale build? rebuild it): ${found}`,
    );
  }
  cached = addon as NativeAddon;
  return cached;
}
