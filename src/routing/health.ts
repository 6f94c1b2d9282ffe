/**
 * What the gateway has seen of each provider: cooldowns after failures (as long as the provider
 * asked, when it said), the probe after a cooldown, the last error and latency. Keyed by
 * provider id (`model/name`), so a reload keeps the state of providers whose model and name are
 * unchanged. Time is passed in, never read here.
 *
 * A cooldown is a circuit opened (SPEC §9): while it lasts the provider is avoided; once it is
 * over, one request probes it (half-open) while the others keep avoiding it, and the probe's
 * outcome closes the circuit or opens it again.
 */
export type CooldownReason =
  /** The provider refused for its rate limit (429) or said when to come back: not asked before then. */
  | 'rate_limited'
  /** The provider failed (5xx, network, timeout, a stall, a refused key): tried only when nothing else is left. */
  | 'failed';

export interface ProviderHealth {
  cooldownUntil: number;
  cooldownReason: CooldownReason | null;
  /** What set the cooldown's length: `retry-after`, `x-ratelimit-reset`, … or `cooldown_seconds`. */
  cooldownSource: string | null;
  /** `due`: the cooldown is over and the next try is the probe; `in_flight`: a probe is being tried (since `probeSince`). */
  probe: 'none' | 'due' | 'in_flight';
  probeSince: number;
  consecutiveFailures: number;
  lastError: string | null;
  lastErrorAt: number | null;
  lastLatencyMs: number | null;
}

/** Why a provider is avoided now, and until when (epoch ms; for a probe in flight, a guess a second ahead). */
export interface Avoidance {
  until: number;
  reason: CooldownReason;
  /** Not tried at all (rate-limited), rather than tried last. */
  hard: boolean;
}

/** A probe older than this is taken to be lost (its request is long gone): the next try probes again. */
export const PROBE_STALE_MS = 10 * 60_000;

export class HealthBook {
  private readonly byId = new Map<string, ProviderHealth>();

  get(id: string): ProviderHealth | undefined {
    return this.byId.get(id);
  }

  /** Epoch ms until which the provider is cooling down; 0 when it is not. */
  coolingUntil(id: string, now: number): number {
    const h = this.byId.get(id);
    return h && h.cooldownUntil > now ? h.cooldownUntil : 0;
  }

  /** Whether requests should stay away from the provider now: cooling down, or being probed by another request. */
  avoid(id: string, now: number): Avoidance | null {
    const h = this.byId.get(id);
    if (!h || h.cooldownReason === null) return null;
    const hard = h.cooldownReason === 'rate_limited';
    if (h.cooldownUntil > now) return { until: h.cooldownUntil, reason: h.cooldownReason, hard };
    if (h.probe === 'in_flight' && now - h.probeSince < PROBE_STALE_MS) return { until: now + 1000, reason: h.cooldownReason, hard };
    return null;
  }

  /**
   * Right before a request tries the provider: `probe` when this try is the probe after a cooldown
   * (taken now: no other request probes until it ends), `busy` when another request's probe is in
   * flight, `ok` otherwise (including a try while it still cools down, as a last resort).
   */
  beginTry(id: string, now: number): 'ok' | 'probe' | 'busy' {
    const h = this.byId.get(id);
    if (!h || h.cooldownReason === null || h.cooldownUntil > now) return 'ok';
    if (h.probe === 'in_flight' && now - h.probeSince < PROBE_STALE_MS) return 'busy';
    h.probe = 'in_flight';
    h.probeSince = now;
    return 'probe';
  }

  /** A probe ended without a verdict on the provider (the client left): the next try probes. */
  abandonProbe(id: string): void {
    const h = this.byId.get(id);
    if (h && h.probe === 'in_flight') h.probe = 'due';
  }

  recordSuccess(id: string, latencyMs: number): void {
    const h = this.entry(id);
    h.consecutiveFailures = 0;
    h.cooldownUntil = 0;
    h.cooldownReason = null;
    h.cooldownSource = null;
    h.probe = 'none';
    h.lastLatencyMs = latencyMs;
  }

  /**
   * A failed request on this provider (tries exhausted, or a switch): cool it down for
   * `cooldownMs` (a longer cooldown already running is kept), then probe it.
   */
  recordFailure(id: string, now: number, cooldownMs: number, error: string, reason: CooldownReason = 'failed', source: string | null = null): void {
    const h = this.entry(id);
    h.consecutiveFailures += 1;
    h.lastError = error;
    h.lastErrorAt = now;
    if (cooldownMs <= 0) {
      // No cooldown wanted: a probe that failed lets the next request try again.
      if (h.probe === 'in_flight') h.probe = 'due';
      return;
    }
    if (now + cooldownMs >= h.cooldownUntil) {
      h.cooldownUntil = now + cooldownMs;
      h.cooldownReason = reason;
      h.cooldownSource = source;
    }
    h.probe = 'due';
  }

  /** Forget providers that are no longer configured. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.byId.keys()) if (!ids.has(id)) this.byId.delete(id);
  }

  private entry(id: string): ProviderHealth {
    let h = this.byId.get(id);
    if (!h) {
      h = {
        cooldownUntil: 0, cooldownReason: null, cooldownSource: null, probe: 'none', probeSince: 0,
        consecutiveFailures: 0, lastError: null, lastErrorAt: null, lastLatencyMs: null,
      };
      this.byId.set(id, h);
    }
    return h;
  }
}
