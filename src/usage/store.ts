import type { KeyRecordStore } from './key-records.js';
import type { PinStore } from './pins.js';
import type { ResponseStore } from './response-store.js';

/**
 * Usage counters per provider and period, behind one small interface with an embedded (SQLite)
 * and a shared (Redis) implementation. A request is reserved before it is sent (check and
 * increment in one atomic step), counted when the provider answers it successfully, and given
 * back when it fails; tokens are added when the answer completes.
 */

export interface Counters {
  /** Requests the provider answered successfully in the period. */
  requests: number;
  tokens: number;
  /** The part of `tokens` that the gateway estimated. */
  estimatedTokens: number;
  /** Cost in nano-USD (1e-9 USD) of the requests whose price was known. */
  cost: number;
  /** Requests whose cost was unknown (no price for the provider). */
  unpriced: number;
}

export interface Limits {
  requests: number | null;
  tokens: number | null;
  /** Nano-USD; unset or null: no cost limit. */
  cost?: number | null;
}

/** One provider's counters in one period. */
export interface PeriodRef {
  providerId: string;
  /** Epoch ms of the period's start: the counters' key. */
  start: number;
  /** Epoch ms of the period's end: counters are kept a while past it, then may expire. */
  end: number;
}

export type ReserveResult = { ok: true; token: string } | { ok: false; exhausted: 'requests' | 'tokens' | 'cost' };

export interface UsageStore {
  readonly kind: 'sqlite' | 'redis';
  /** Stored Responses (SPEC §7), kept beside the counters. */
  readonly responses: ResponseStore;
  /** Virtual keys (SPEC §8), stored by their hash, beside the counters. */
  readonly keys: KeyRecordStore;
  /** Session pins (SPEC §9), beside the counters: shared by instances on Redis. */
  readonly pins: PinStore;
  /**
   * Holds one request of the quota when `used + in flight < limit` (and tokens used < limit),
   * in one atomic step. A hold left by a process that died expires after `holdMs`.
   */
  reserve(ref: PeriodRef, limits: Limits, holdMs: number): Promise<ReserveResult>;
  /** The request succeeded: count it, and drop its hold (`token` null when none was taken). */
  commit(ref: PeriodRef, token: string | null): Promise<void>;
  /** The request failed: give its hold back. */
  release(ref: PeriodRef, token: string): Promise<void>;
  /**
   * Tokens of a finished request, and its cost in nano-USD: a number when the price was known,
   * null when it was not (counted as unpriced), undefined when cost is not tracked.
   */
  addTokens(ref: PeriodRef, tokens: number, estimated: boolean, cost?: number | null): Promise<void>;
  /**
   * Takes one of `max` slots named `name` (requests in flight of a key), or null when all are
   * taken. A slot of a process that died frees itself after `holdMs`; live ones are kept.
   */
  acquireSlot(name: string, max: number, holdMs: number): Promise<string | null>;
  releaseSlot(name: string, token: string): Promise<void>;
  read(refs: readonly PeriodRef[]): Promise<Counters[]>;
  /** Sets the counters of these periods to zero (holds in flight stay). */
  reset(refs: readonly PeriodRef[]): Promise<void>;
  /** The store can be read and written now. */
  healthy(): Promise<boolean>;
  /** Writes what is pending and lets go of the store. */
  close(): Promise<void>;
}

export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
}
