import type { ModelConfig, ProviderConfig } from '../config/load.js';
import { serves } from '../upstream/wire.js';
import type { Avoidance } from './health.js';
import { orderProviders, type RoundRobinState } from './select.js';

/** The OpenAI endpoints a provider is called on (`/responses` only for `native_responses` providers). */
export type Endpoint = '/chat/completions' | '/completions' | '/embeddings' | '/responses' | '/messages';

/** What the planner needs to know of one request. */
export interface PlanRequest {
  endpoint: Endpoint;
  /** The prompt's tokens: needed only when some candidate sets `max_context_length` (see `needsPromptTokens`). */
  promptTokens: number | null;
}

/** What the planner reads of the gateway's state: cooldowns and probes, the session's pin, and the round-robin it advances. */
export interface PlanView {
  avoid(id: string): Avoidance | null;
  readonly rr: RoundRobinState;
  /** The id of the provider the request's session is pinned to (SPEC §9), if any. */
  readonly pinned?: string | null;
}

/** A provider left out of the order because it said when it can serve again: not before `until` (epoch ms). */
export interface Waiting {
  provider: ProviderConfig;
  until: number;
}

export type Plan =
  | { ok: true; order: ProviderConfig[]; waiting: Waiting[] }
  | { ok: false; why: 'disabled' }
  /** Every provider said when it can serve again: the first of them at `until`. */
  | { ok: false; why: 'waiting'; until: number; waiting: Waiting[] }
  | { ok: false; why: 'unsupported'; endpoint: Endpoint }
  | { ok: false; why: 'context'; tokens: number };

/**
 * Which providers of a model may serve a request, and in which order: enabled, able to serve
 * the endpoint, within `max_context_length`, not waiting out what they said (rate-limited), then
 * ordered by tier, weight, cooldown and the session's pin (`orderProviders`). Pure: the caller brings the prompt's size and the state to read. Quotas
 * are held per provider as the request is tried (`usage/quota.ts`), since a hold is a write.
 */
export function planRoute(model: ModelConfig, req: PlanRequest, view: PlanView): Plan {
  const enabled = model.providers.filter((p) => p.enabled);
  if (enabled.length === 0) return { ok: false, why: 'disabled' };
  const able = enabled.filter((p) => supports(p, req.endpoint));
  if (able.length === 0) return { ok: false, why: 'unsupported', endpoint: req.endpoint };
  const tokens = req.promptTokens;
  const fitting = tokens === null ? able : able.filter((p) => p.max_context_length === null || tokens <= p.max_context_length);
  if (fitting.length === 0) return { ok: false, why: 'context', tokens: tokens ?? 0 };
  const waiting: Waiting[] = [];
  const open: ProviderConfig[] = [];
  const avoided = new Map<string, number>();
  for (const p of fitting) {
    const a = view.avoid(p.id);
    if (a?.hard) waiting.push({ provider: p, until: a.until });
    else {
      if (a) avoided.set(p.id, a.until);
      open.push(p);
    }
  }
  if (open.length === 0) return { ok: false, why: 'waiting', until: Math.min(...waiting.map((w) => w.until)), waiting };
  return { ok: true, order: orderProviders(open, (id) => avoided.get(id) ?? 0, view.rr, view.pinned ?? null), waiting };
}

/** Whether the prompt must be counted to plan: some enabled provider sets a context length. */
export function needsPromptTokens(model: ModelConfig): boolean {
  return model.providers.some((p) => p.enabled && p.max_context_length !== null);
}

/** Whether the provider's type serves the endpoint (`upstream/wire.ts`); the gateway converts streams for any. */
function supports(p: ProviderConfig, endpoint: Endpoint): boolean {
  return serves(p, endpoint);
}
