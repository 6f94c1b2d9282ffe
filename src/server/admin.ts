import type { FastifyInstance } from 'fastify';
import type { GatewayState } from '../app.js';
import { modelNotFound } from '../errors.js';

/** `sk-…abcd`: enough to tell keys apart, never enough to use one. */
export function maskKey(key: string): string {
  if (key.length === 0) return '';
  if (key.length < 12) return '…';
  const dash = key.indexOf('-');
  const prefix = dash > 0 && dash <= 4 ? key.slice(0, dash + 1) : '';
  return `${prefix}…${key.slice(-4)}`;
}

/** Admin routes; guarded by the admin key (or the gateway key when no admin key is set). */
export function registerAdminRoutes(app: FastifyInstance, state: GatewayState): void {
  app.get<{ Params: { model: string } }>('/admin/providers/:model', async (request) => {
    const model = state.config().models.get(request.params.model);
    if (!model) throw modelNotFound(request.params.model);
    const now = state.now();
    return {
      model: model.name,
      providers: model.providers.map((p) => {
        const h = state.health.get(p.id);
        const coolingUntil = state.health.coolingUntil(p.id, now);
        return {
          name: p.name,
          endpoint: p.endpoint,
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
          custom_headers: p.custom_headers ? Object.fromEntries(Object.keys(p.custom_headers).map((k) => [k, '…'])) : null,
          health: {
            state: !p.enabled ? 'disabled' : coolingUntil > 0 ? 'cooling_down' : 'ok',
            cooldown_until: coolingUntil > 0 ? new Date(coolingUntil).toISOString() : null,
            consecutive_failures: h?.consecutiveFailures ?? 0,
            last_error: h?.lastError ?? null,
            last_error_at: h?.lastErrorAt ? new Date(h.lastErrorAt).toISOString() : null,
            last_latency_ms: h?.lastLatencyMs ?? null,
          },
        };
      }),
    };
  });
}
