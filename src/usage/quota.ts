import { DEFAULT_PERIOD_CRON } from '../config/cron.js';
import type { GatewayConfig, ProviderConfig } from '../config/load.js';
import { keyCounterId, type KeyRecord } from '../keys/record.js';
import { nanosOfUsd } from './cost.js';
import type { Logger } from '../observability/logger.js';
import { isoWithOffset, PeriodCache, type Period } from './period.js';
import type { UsageRecord, UsageSink } from './sink.js';
import type { Counters, Limits, PeriodRef, UsageStore } from './store.js';

export interface QuotaHold {
  /** The provider's id, or the key's counter id. */
  readonly id: string;
  readonly ref: PeriodRef;
  /** The store's reservation, null for a provider without a quota (nothing to hold). */
  readonly token: string | null;
}

export type HoldResult =
  | { ok: true; hold: QuotaHold }
  | { ok: false; reason: 'quota exhausted' | 'usage store unavailable'; resetAt: number };

/** A virtual key's hold: only refused for its own limits (or when they cannot be checked). */
export type KeyHoldResult =
  | { ok: true; hold: QuotaHold }
  | { ok: false; reason: 'quota exhausted'; exhausted: 'requests' | 'tokens' | 'cost'; resetAt: number }
  | { ok: false; reason: 'usage store unavailable'; resetAt: number };

const MAX_TIMER_MS = 2 ** 31 - 1;

type RateLimit = { requests_per_period: number | null; tokens_per_period: number | null; cost_per_period: number | null };
const NO_LIMITS: Limits = { requests: null, tokens: null, cost: null };
/** Limits of a (frozen, or never changed) rate_limit object, computed once: every request reads them. */
const LIMITS = new WeakMap<RateLimit, Limits>();

function limitsOf(r: RateLimit | null): Limits {
  if (r === null) return NO_LIMITS;
  let l = LIMITS.get(r);
  if (!l) {
    const cost = r.cost_per_period ?? null;
    l = { requests: r.requests_per_period ?? null, tokens: r.tokens_per_period ?? null, cost: cost === null ? null : nanosOfUsd(cost) };
    LIMITS.set(r, l);
  }
  return l;
}

/**
 * Quotas and usage of every provider, over the store: which period is current (from the
 * provider's cron, in the TZ zone), holding a request before it is sent, counting it when it
 * succeeds, adding tokens when it completes. Every provider's usage is counted; only those with
 * a `rate_limit` are ever refused.
 */
export class Quota implements UsageSink {
  private readonly periods: PeriodCache;
  private providers: ReadonlyMap<string, ProviderConfig> = new Map();
  private readonly lastStart = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly store: UsageStore,
    private readonly tz: string,
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {
    this.periods = new PeriodCache(tz);
  }

  /** Takes the providers of a (re)loaded configuration; counters stay keyed by model/name. */
  configure(config: GatewayConfig): void {
    this.providers = config.providers;
    for (const id of this.lastStart.keys()) if (!config.providers.has(id)) this.lastStart.delete(id);
    this.tick();
  }

  period(p: ProviderConfig, now = this.now()): Period {
    return this.periods.get(p.id, p.rate_limit?.period_cron ?? DEFAULT_PERIOD_CRON, now);
  }

  limits(p: ProviderConfig): Limits {
    return limitsOf(p.rate_limit);
  }

  isLimited(p: ProviderConfig): boolean {
    const l = this.limits(p);
    return l.requests !== null || l.tokens !== null || l.cost != null;
  }

  keyPeriod(k: KeyRecord, now = this.now()): Period {
    return this.periods.get(keyCounterId(k.id), k.rate_limit?.period_cron ?? DEFAULT_PERIOD_CRON, now);
  }

  keyLimits(k: KeyRecord): Limits {
    return limitsOf(k.rate_limit);
  }

  /**
   * Holds one request of a key's quota before anything is sent (the key's request count is
   * exact on one instance or many; tokens and cost are checked against what completed so far).
   * `holdMs` bounds a hold of a process that died.
   */
  async holdKey(k: KeyRecord, holdMs: number): Promise<KeyHoldResult> {
    const period = this.keyPeriod(k);
    const ref: PeriodRef = { providerId: keyCounterId(k.id), start: period.start, end: period.end };
    const limits = this.keyLimits(k);
    if (limits.requests === null && limits.tokens === null && limits.cost == null) return { ok: true, hold: { id: ref.providerId, ref, token: null } };
    try {
      const r = await this.store.reserve(ref, limits, holdMs);
      if (r.ok) return { ok: true, hold: { id: ref.providerId, ref, token: r.token } };
      return { ok: false, reason: 'quota exhausted', exhausted: r.exhausted, resetAt: period.end };
    } catch (err) {
      this.logger.error({ key: k.id, err: (err as Error).message }, `ERROR usage store unavailable, cannot check the quota of key ${k.id}`);
      return { ok: false, reason: 'usage store unavailable', resetAt: period.end };
    }
  }

  /** Current-period counters of these keys. */
  async keyCounters(keys: readonly KeyRecord[]): Promise<Counters[]> {
    return this.store.read(keys.map((k) => {
      const period = this.keyPeriod(k);
      return { providerId: keyCounterId(k.id), start: period.start, end: period.end };
    }));
  }

  /** Holds one request of the provider's quota before it is sent. */
  async hold(p: ProviderConfig): Promise<HoldResult> {
    const period = this.period(p);
    const ref: PeriodRef = { providerId: p.id, start: period.start, end: period.end };
    if (!this.isLimited(p)) return { ok: true, hold: { id: p.id, ref, token: null } };
    // Long enough for every try of this provider; a hold of a process that died frees itself then.
    const holdMs = (p.retry + 1) * (p.timeout * 1000 + 2000) + 10_000;
    try {
      const r = await this.store.reserve(ref, this.limits(p), holdMs);
      if (r.ok) return { ok: true, hold: { id: p.id, ref, token: r.token } };
      return { ok: false, reason: 'quota exhausted', resetAt: period.end };
    } catch (err) {
      this.logger.error({ provider: p.id, err: (err as Error).message }, `ERROR usage store unavailable, skipping limited provider ${p.id}`);
      return { ok: false, reason: 'usage store unavailable', resetAt: period.end };
    }
  }

  /** The provider answered successfully: the request counts. */
  commit(h: QuotaHold): void {
    this.store.commit(h.ref, h.token).catch((err: Error) => this.writeFailed('commit', h.id, err));
  }

  /** The provider failed, or the client left before it answered: the hold is given back. */
  release(h: QuotaHold): void {
    if (h.token === null) return;
    this.store.release(h.ref, h.token).catch((err: Error) => this.writeFailed('release', h.id, err));
  }

  /** Tokens and cost of a finished request, reported or estimated: on its provider, and on its key. */
  record(u: UsageRecord): void {
    if (u.totalTokens <= 0) return;
    const now = this.now();
    const p = this.providers.get(u.providerId);
    const period = p ? this.period(p, now) : this.periods.get(u.providerId, DEFAULT_PERIOD_CRON, now);
    const ref: PeriodRef = { providerId: u.providerId, start: period.start, end: period.end };
    this.store.addTokens(ref, u.totalTokens, u.estimated, u.cost).catch((err: Error) => this.writeFailed('tokens', u.providerId, err));
    if (u.key) {
      const id = keyCounterId(u.key.id);
      const kp = this.periods.get(id, u.key.cron, now);
      this.store.addTokens({ providerId: id, start: kp.start, end: kp.end }, u.totalTokens, u.estimated, u.cost).catch((err: Error) => this.writeFailed('tokens', id, err));
    }
  }

  /** Current-period counters of these providers. */
  async counters(providers: readonly ProviderConfig[]): Promise<Counters[]> {
    return this.store.read(providers.map((p) => this.refOf(p)));
  }

  async reset(providers: readonly ProviderConfig[]): Promise<void> {
    await this.store.reset(providers.map((p) => this.refOf(p)));
    for (const p of providers) this.logger.info({ provider: p.id }, `Reset usage for ${p.id} by hand`);
  }

  /** ISO start of the provider's current period, with the zone's offset. */
  iso(epochMs: number): string {
    return isoWithOffset(epochMs, this.tz);
  }

  /**
   * Logs `Reset usage` for each limited provider whose period changed, and sleeps until the
   * next boundary (one timer for all; recomputed from the clock, so DST and downtime are fine).
   */
  tick(): void {
    const now = this.now();
    let next = Infinity;
    for (const p of this.providers.values()) {
      if (!this.isLimited(p)) continue;
      const period = this.period(p, now);
      const last = this.lastStart.get(p.id);
      if (last !== undefined && last !== period.start) {
        this.logger.info({ provider: p.id, periodStart: this.iso(period.start) }, `Reset usage for ${p.id}: new period from ${this.iso(period.start)}`);
      }
      this.lastStart.set(p.id, period.start);
      next = Math.min(next, period.end);
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (next === Infinity) return;
    this.timer = setTimeout(() => this.tick(), Math.min(MAX_TIMER_MS, Math.max(50, next - now + 5)));
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.store.close();
  }

  private refOf(p: ProviderConfig): PeriodRef {
    const period = this.period(p);
    return { providerId: p.id, start: period.start, end: period.end };
  }

  private writeFailed(what: string, providerId: string, err: Error): void {
    this.logger.error({ provider: providerId, err: err.message }, `ERROR usage store write (${what}) failed`);
  }
}
