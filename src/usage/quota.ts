import { DEFAULT_PERIOD_CRON } from '../config/cron.js';
import type { GatewayConfig, ProviderConfig } from '../config/load.js';
import type { Logger } from '../observability/logger.js';
import { isoWithOffset, PeriodCache, type Period } from './period.js';
import type { UsageRecord, UsageSink } from './sink.js';
import type { Counters, Limits, PeriodRef, UsageStore } from './store.js';

export interface QuotaHold {
  readonly provider: ProviderConfig;
  readonly ref: PeriodRef;
  /** The store's reservation, null for a provider without a quota (nothing to hold). */
  readonly token: string | null;
}

export type HoldResult =
  | { ok: true; hold: QuotaHold }
  | { ok: false; reason: 'quota exhausted' | 'usage store unavailable'; resetAt: number };

const MAX_TIMER_MS = 2 ** 31 - 1;

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
    return { requests: p.rate_limit?.requests_per_period ?? null, tokens: p.rate_limit?.tokens_per_period ?? null };
  }

  isLimited(p: ProviderConfig): boolean {
    const l = this.limits(p);
    return l.requests !== null || l.tokens !== null;
  }

  /** Holds one request of the provider's quota before it is sent. */
  async hold(p: ProviderConfig): Promise<HoldResult> {
    const period = this.period(p);
    const ref: PeriodRef = { providerId: p.id, start: period.start, end: period.end };
    if (!this.isLimited(p)) return { ok: true, hold: { provider: p, ref, token: null } };
    // Long enough for every try of this provider; a hold of a process that died frees itself then.
    const holdMs = (p.retry + 1) * (p.timeout * 1000 + 2000) + 10_000;
    try {
      const r = await this.store.reserve(ref, this.limits(p), holdMs);
      if (r.ok) return { ok: true, hold: { provider: p, ref, token: r.token } };
      return { ok: false, reason: 'quota exhausted', resetAt: period.end };
    } catch (err) {
      this.logger.error({ provider: p.id, err: (err as Error).message }, `ERROR usage store unavailable, skipping limited provider ${p.id}`);
      return { ok: false, reason: 'usage store unavailable', resetAt: period.end };
    }
  }

  /** The provider answered successfully: the request counts. */
  commit(h: QuotaHold): void {
    this.store.commit(h.ref, h.token).catch((err: Error) => this.writeFailed('commit', h.provider.id, err));
  }

  /** The provider failed, or the client left before it answered: the hold is given back. */
  release(h: QuotaHold): void {
    if (h.token === null) return;
    this.store.release(h.ref, h.token).catch((err: Error) => this.writeFailed('release', h.provider.id, err));
  }

  /** Tokens of a finished request, reported or estimated. */
  record(u: UsageRecord): void {
    if (u.totalTokens <= 0) return;
    const p = this.providers.get(u.providerId);
    const period = p ? this.period(p) : this.periods.get(u.providerId, DEFAULT_PERIOD_CRON, this.now());
    const ref: PeriodRef = { providerId: u.providerId, start: period.start, end: period.end };
    this.store.addTokens(ref, u.totalTokens, u.estimated).catch((err: Error) => this.writeFailed('tokens', u.providerId, err));
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
