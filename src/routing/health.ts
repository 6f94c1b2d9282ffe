/**
 * What the gateway has seen of each provider: cooldowns after failures, the last error and
 * latency. Keyed by provider id (`model/name`), so a reload keeps the state of providers whose
 * model and name are unchanged. Time is passed in, never read here.
 */
export interface ProviderHealth {
  cooldownUntil: number;
  consecutiveFailures: number;
  lastError: string | null;
  lastErrorAt: number | null;
  lastLatencyMs: number | null;
}

export class HealthBook {
  private readonly byId = new Map<string, ProviderHealth>();

  get(id: string): ProviderHealth | undefined {
    return this.byId.get(id);
  }

  /** Epoch ms until which the provider is skipped; 0 when it is not cooling down. */
  coolingUntil(id: string, now: number): number {
    const h = this.byId.get(id);
    return h && h.cooldownUntil > now ? h.cooldownUntil : 0;
  }

  recordSuccess(id: string, latencyMs: number): void {
    const h = this.entry(id);
    h.consecutiveFailures = 0;
    h.cooldownUntil = 0;
    h.lastLatencyMs = latencyMs;
  }

  /** A failed request on this provider (tries exhausted, or 401/403/429): cool it down for `cooldownMs`. */
  recordFailure(id: string, now: number, cooldownMs: number, error: string): void {
    const h = this.entry(id);
    h.consecutiveFailures += 1;
    h.lastError = error;
    h.lastErrorAt = now;
    if (cooldownMs > 0) h.cooldownUntil = Math.max(h.cooldownUntil, now + cooldownMs);
  }

  /** Forget providers that are no longer configured. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.byId.keys()) if (!ids.has(id)) this.byId.delete(id);
  }

  private entry(id: string): ProviderHealth {
    let h = this.byId.get(id);
    if (!h) {
      h = { cooldownUntil: 0, consecutiveFailures: 0, lastError: null, lastErrorAt: null, lastLatencyMs: null };
      this.byId.set(id, h);
    }
    return h;
  }
}
