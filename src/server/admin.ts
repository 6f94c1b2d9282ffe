import type { FastifyInstance } from 'fastify';
import type { GatewayState } from '../app.js';
import type { ProviderConfig } from '../config/load.js';
import { configRefused, invalidRequest, modelNotFound, providerNotFound, usageStoreUnreachable } from '../errors.js';
import { orderProviders } from '../routing/select.js';
import { usd } from '../usage/cost.js';
import type { Counters } from '../usage/store.js';

/** `sk-…abcd`: enough to tell keys apart, never enough to use one. */
export function maskKey(key: string): string {
  if (key.length === 0) return '';
  if (key.length < 12) return '…';
  const dash = key.indexOf('-');
  const prefix = dash > 0 && dash <= 4 ? key.slice(0, dash + 1) : '';
  return `${prefix}…${key.slice(-4)}`;
}

/**
 * USD spent on a provider this period; null (unknown, never 0) when it has no price and what it
 * served could not be priced.
 */
function costOf(p: ProviderConfig, c: Counters): number | null {
  return c.cost === 0 && (p.price === null || c.unpriced > 0) ? null : usd(c.cost);
}

/** One provider as the admin API shows it: settings (secrets masked), usage against quota, health. */
function providerView(state: AdminDeps, p: ProviderConfig, counters: Counters | undefined, now: number) {
  const h = state.health.get(p.id);
  const c = counters ?? { requests: 0, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 };
  const limits = state.quota.limits(p);
  const period = state.quota.period(p, now);
  const coolingUntil = state.health.coolingUntil(p.id, now);
  const avoided = state.health.avoid(p.id, now);
  const affinity = state.affinity.counts(p.id);
  const exhausted = (limits.requests !== null && c.requests >= limits.requests) || (limits.tokens !== null && c.tokens >= limits.tokens)
    || (limits.cost != null && c.cost >= limits.cost);
  return {
    name: p.name,
    type: p.type,
    endpoint: p.endpoint,
    ...(p.api_version !== null ? { api_version: p.api_version } : {}),
    model: p.model,
    api_key: maskKey(p.api_key),
    priority: p.priority,
    weight: p.weight,
    enabled: p.enabled,
    retry: p.retry,
    timeout: p.timeout,
    cooldown_seconds: p.cooldown_seconds,
    stream_support: p.stream_support,
    non_stream_support: p.non_stream_support,
    max_context_length: p.max_context_length,
    rate_limit: p.rate_limit,
    price: p.price,
    price_source: p.priceSource,
    custom_headers: p.custom_headers ? Object.fromEntries(Object.keys(p.custom_headers).map((k) => [k, '…'])) : null,
    usage: {
      requests: c.requests,
      tokens: c.tokens,
      estimated_tokens: c.estimatedTokens,
      cost: costOf(p, c),
      period_start: state.quota.iso(period.start),
      next_reset: state.quota.iso(period.end),
      limit_requests: limits.requests,
      limit_tokens: limits.tokens,
      remaining_requests: limits.requests === null ? null : Math.max(0, limits.requests - c.requests),
      remaining_tokens: limits.tokens === null ? null : Math.max(0, limits.tokens - c.tokens),
      exhausted,
    },
    health: {
      state: !p.enabled ? 'disabled' : coolingUntil > 0 ? 'cooling_down' : h?.probe === 'in_flight' && avoided ? 'probing' : 'ok',
      cooldown_until: coolingUntil > 0 ? new Date(coolingUntil).toISOString() : null,
      /** `rate_limited` (waited out: not tried before the end) or `failed` (tried only when nothing else is left). */
      cooldown_reason: coolingUntil > 0 ? h?.cooldownReason ?? null : null,
      /** What set its length: `retry-after`, `x-ratelimit-reset`, `anthropic-ratelimit-reset`, `retry-info` or `cooldown_seconds`. */
      cooldown_source: coolingUntil > 0 ? h?.cooldownSource ?? null : null,
      /** After a cooldown: `due` (the next request probes it), `in_flight` (one request is probing it), else `none`. */
      probe: h?.probe ?? 'none',
      consecutive_failures: h?.consecutiveFailures ?? 0,
      last_error: h?.lastError ?? null,
      last_error_at: h?.lastErrorAt ? new Date(h.lastErrorAt).toISOString() : null,
      last_latency_ms: h?.lastLatencyMs ?? null,
      interrupted_streams: state.traffic.interrupted(p.id),
    },
    /** Requests this provider served since start, and the share of them sent by a session's pin (SPEC §9). */
    affinity: { served: affinity.served, pinned: affinity.pinned, share: affinity.served === 0 ? null : affinity.pinned / affinity.served },
  };
}

/** The provider the next request would try first, without advancing the round-robin. */
function preferredProvider(state: AdminDeps, providers: readonly ProviderConfig[], now: number): string | null {
  const enabled = providers.filter((p) => p.enabled);
  return orderProviders(enabled.filter((p) => !state.health.avoid(p.id, now)?.hard), (id) => state.health.avoid(id, now)?.until ?? 0, new Map(state.rr))[0]?.name ?? null;
}

/**
 * A read or write of the usage store, for an admin answer: when the store fails (Redis down or
 * hung, a disk error) the answer is 503 `usage_store_unavailable`, never a 500.
 */
async function fromStore<T>(state: AdminDeps, what: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    state.log.logger.error({ err: (err as Error).message }, `ERROR usage store unavailable: cannot ${what}`);
    throw usageStoreUnreachable();
  }
}

/** Admin routes; guarded by the admin key (or the gateway key when no admin key is set). */
/** What the admin routes read and do: the configuration, health, quotas, traffic, reload. */
export type AdminDeps = Pick<GatewayState, 'config' | 'health' | 'affinity' | 'rr' | 'now' | 'quota' | 'traffic' | 'draining' | 'reload' | 'log'>;

export function registerAdminRoutes(app: FastifyInstance, state: AdminDeps): void {
  app.get<{ Params: { model: string } }>('/admin/providers/:model', async (request) => {
    const model = state.config().models.get(request.params.model);
    if (!model) throw modelNotFound(request.params.model);
    const now = state.now();
    const counters = await fromStore(state, 'read usage', state.quota.counters(model.providers));
    return { model: model.name, providers: model.providers.map((p, i) => providerView(state, p, counters[i], now)) };
  });

  /** Everything the dashboard shows, in one answer: models and providers in priority order, traffic, latest requests. */
  app.get('/admin/overview', async () => {
    const config = state.config();
    const now = state.now();
    const providers = [...config.providers.values()];
    const [counters, storeOk, responses] = await Promise.all([
      state.quota.counters(providers).catch(() => null),
      state.quota.store.healthy(),
      state.quota.store.responses.stats().catch(() => null),
    ]);
    let i = 0;
    const models = [...config.models.values()].map((m) => {
      const views = m.providers.map((p) => ({ ...providerView(state, p, counters?.[i++], now), traffic: state.traffic.of(p.id).minutes }));
      const preferred = preferredProvider(state, m.providers, now);
      const sorted = views
        .map((v) => ({ ...v, preferred: v.name === preferred }))
        .sort((a, b) => Number(b.enabled) - Number(a.enabled) || a.priority - b.priority || b.weight - a.weight);
      return { name: m.name, served: m.providers.some((p) => p.enabled), providers: sorted };
    });
    return {
      now: new Date(now).toISOString(),
      store: { kind: state.quota.store.kind, healthy: storeOk, stored_responses: responses },
      draining: state.draining,
      models,
      recent: state.traffic.latest(),
    };
  });

  /** The first version's stats, exactly: `{model: {provider: {requests, tokens, last_reset, limit_requests, limit_tokens}}}`. */
  app.get('/admin/stats', async () => {
    const models = [...state.config().models.values()];
    const providers = [...state.config().providers.values()];
    const counters = await fromStore(state, 'read usage', state.quota.counters(providers));
    const out: Record<string, Record<string, unknown>> = {};
    let i = 0;
    for (const m of models) {
      const byName: Record<string, unknown> = {};
      for (const p of m.providers) {
        const c = counters[i++] ?? { requests: 0, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 };
        const limits = state.quota.limits(p);
        byName[p.name] = {
          requests: c.requests,
          tokens: c.tokens,
          last_reset: state.quota.iso(state.quota.period(p).start),
          limit_requests: limits.requests,
          limit_tokens: limits.tokens,
          tokens_estimated: c.estimatedTokens > 0,
          cost: costOf(p, c),
          interrupted_streams: state.traffic.interrupted(p.id),
        };
      }
      out[m.name] = byName;
    }
    return out;
  });

  /** Rereads the configuration file: 200 with what changed, or 400 with every validation error (the running configuration stays). */
  app.post('/admin/reload', async (_request, reply) => {
    const r = await state.reload('POST /admin/reload');
    if (r.ok) return { status: 'reloaded', changes: r.changes };
    const e = configRefused(r.errors.length);
    return reply.code(400).send({ error: { ...e.toJSON().error, errors: r.errors } });
  });

  /** Resets the current period's usage of a model's providers, or of one: `{"model": "...", "provider": "..."}`. */
  app.post('/admin/usage/reset', async (request) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body.model !== 'string') throw invalidRequest('`model` must be a string.', 'model');
    const model = state.config().models.get(body.model);
    if (!model) throw modelNotFound(body.model);
    let targets: readonly ProviderConfig[] = model.providers;
    if (body.provider !== undefined) {
      if (typeof body.provider !== 'string') throw invalidRequest('`provider` must be a string.', 'provider');
      const one = model.providers.find((p) => p.name === body.provider);
      if (!one) throw providerNotFound(model.name, body.provider);
      targets = [one];
    }
    await fromStore(state, 'reset usage', state.quota.reset(targets));
    return { reset: targets.map((p) => ({ model: model.name, provider: p.name })) };
  });
}
