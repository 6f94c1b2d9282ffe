import type { FastifyReply, FastifyRequest } from 'fastify';
import { resolveModel } from '../config/aliases.js';
import type { GatewayConfig } from '../config/load.js';
import type { ClientFormat } from '../protocols/format.js';
import {
  allProvidersFailed, allProvidersRateLimited, contextLengthExceeded, endpointNotSupported, invalidRequest, modelNotAllowed, modelNotFound,
  noProviderAvailable, quotaExceeded, usageStoreUnavailable,
} from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { HealthBook } from '../routing/health.js';
import { pinKey, sessionOf, type Affinity } from '../routing/affinity.js';
import { needsPromptTokens, planRoute, type Plan } from '../routing/plan.js';
import type { RoundRobinState } from '../routing/select.js';
import { conversionFor, type CompletionKind } from '../stream/convert.js';
import { proxy, type Attempt, type ProxyDeps, type ProxyResult, type Skip } from '../upstream/proxy.js';
import { RequestUsage } from '../usage/accounting.js';
import type { Quota } from '../usage/quota.js';
import type { UsageSink } from '../usage/sink.js';
import type { Inflight } from './inflight.js';
import { admitKey, keyUsage, type Admission } from './key-admission.js';
import { sendAbandoned, sendJson, sendStream, sendSynthesized, sendUpstreamError, type ReplyContext } from './reply.js';
import { ClientGone } from '../upstream/client-gone.js';

/** What a proxied route uses of the gateway: the configuration, routing state, the proxy, usage and the request's end. */
export interface ProxiedDeps {
  config(): GatewayConfig;
  readonly health: HealthBook;
  /** Session pins (SPEC §9). */
  readonly affinity: Affinity;
  readonly rr: RoundRobinState;
  readonly proxyDeps: ProxyDeps;
  readonly now: () => number;
  readonly usage: UsageSink;
  /** Virtual keys' quotas and slots are held here (SPEC §8). */
  readonly quota: Quota;
  readonly log: { readonly logger: Logger };
  readonly inflight: Inflight;
  finishRequest(request: FastifyRequest, status: number): void;
}

/** The handler of a proxied endpoint in one client format: parse, plan, proxy, answer in the format. */
export function proxiedRoute(format: ClientFormat, deps: ProxiedDeps) {
  return (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => deps.inflight.track(handleProxied(format, request, reply, deps));
}

/** One proxied request in a format (for routes that make a format per request). */
export async function handleProxied(format: ClientFormat, request: FastifyRequest, reply: FastifyReply, deps: ProxiedDeps): Promise<unknown> {
  // The whole request runs on the snapshot it started with, whatever a reload does meanwhile.
  const config = deps.config();
  const parsed = format.parse(request.body);
  if (!parsed.ok) throw invalidRequest(parsed.message, parsed.param);
  if (parsed.dropped && parsed.dropped.length > 0) {
    const named = parsed.dropped.slice(0, 8).map((d) => d.slice(0, 64));
    const more = parsed.dropped.length > named.length ? ` and ${parsed.dropped.length - named.length} more` : '';
    deps.log.logger.info({ reqId: request.id, dropped: named }, `Dropped what a chat provider cannot run: ${named.join(', ')}${more}`);
  }
  const { body, stream } = parsed;
  const trace = request.trace;
  trace.model = parsed.model;
  trace.stream = stream;

  const model = resolveModel(config, parsed.model);
  if (!model) throw modelNotFound(parsed.model);
  // Metrics, stats and the log line name the configured model an alias resolved to.
  trace.model = model.name;
  const key = request.key;
  if (key?.models && !key.models.includes(model.name)) throw modelNotAllowed(parsed.model);
  const endpoint = format.endpoint;
  const declared = Number(request.headers['content-length']);
  const usage = new RequestUsage(body, Number.isFinite(declared) ? declared : config.global.max_body_bytes, trace, deps.usage, deps.log.logger, keyUsage(key));
  const promptTokens = needsPromptTokens(model) ? await usage.promptTokens() : null;
  // The session's pin (SPEC §9): a hint read from the usage store, per key when keys are in use.
  const affinityTtlMs = config.global.affinity_ttl_seconds * 1000;
  const session = affinityTtlMs > 0 ? sessionOf(request.body, request.headers) : null;
  const sessionPin = session === null ? null : pinKey(key?.id ?? null, model.name, session);
  const pin = sessionPin === null ? null : await deps.affinity.lookup(sessionPin);
  const now = deps.now();
  const plan = planRoute(model, { endpoint, promptTokens }, { avoid: (id) => deps.health.avoid(id, now), rr: deps.rr, pinned: pin?.provider ?? null });
  if (!plan.ok) throw planError(model.name, plan, now);
  // Nothing is sent upstream for a key that may not send it; a refusal takes nothing.
  const admission: Admission | null = key ? await admitKey(key, plan.order, reply, deps.quota, now) : null;

  const abort = new ClientGone();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) abort.abort();
  });

  let result: ProxyResult;
  try {
    result = await proxy(plan.order, {
      requestId: request.id, endpoint, body, stream, signal: abort,
      reasoningEffort: parsed.reasoningEffort,
      native: format.native ?? null,
      clientBody: request.body as Record<string, unknown>,
      clientHeaders: request.headers,
      maxResponseBytes: config.global.max_response_bytes,
      maxCooldownMs: config.global.max_cooldown_seconds * 1000,
      waiting: plan.waiting.map((w) => w.until),
    }, deps.proxyDeps);
  } catch (err) {
    admission?.notServed();
    throw err;
  }
  if (result.kind === 'json' || result.kind === 'stream') {
    admission?.served();
    if (sessionPin !== null) trace.affinity = deps.affinity.served(sessionPin, pin, result.provider.id, affinityTtlMs);
    else deps.affinity.unpinned(result.provider.id);
  } else admission?.notServed();
  trace.attempts = result.attempts;
  const kind: CompletionKind = endpoint === '/completions' ? 'text' : 'chat';
  const ctx: ReplyContext = {
    request, reply, usage, kind, format,
    clientWantsUsage: parsed.clientWantsUsage,
    answer: { model: parsed.model, id: format.newId() ?? '' },
    finish: (status) => deps.finishRequest(request, status),
    inflight: deps.inflight,
  };
  return respond(ctx, result, stream, model.name, deps.now());
}

function respond(ctx: ReplyContext, result: ProxyResult, clientStream: boolean, model: string, now: number): unknown {
  const trace = ctx.request.trace;
  switch (result.kind) {
    case 'json':
      trace.provider = result.provider.name;
      if (conversionFor(clientStream, false) === 'synthesize') return sendSynthesized(ctx, result);
      return sendJson(ctx, result);
    case 'error':
      trace.provider = result.provider.name;
      return sendUpstreamError(ctx, result);
    case 'stream':
      trace.provider = result.provider.name;
      return sendStream(ctx, result);
    case 'failed':
      throw noProviderServed(model, result, now);
    case 'aborted':
      return sendAbandoned(ctx, result.provider);
  }
}

function planError(model: string, plan: Exclude<Plan, { ok: true }>, now: number): Error {
  switch (plan.why) {
    case 'waiting':
      return allProvidersRateLimited(model, (plan.until - now) / 1000, plan.waiting.map((w) => `${w.provider.name} (rate-limited for ${Math.max(1, Math.ceil((w.until - now) / 1000))} s)`).join(', '));
    case 'disabled':
      return noProviderAvailable(model, 'all providers are disabled');
    case 'unsupported':
      return endpointNotSupported(model, plan.endpoint);
    case 'context':
      return contextLengthExceeded(plan.tokens);
  }
}

/**
 * Why no provider served: every one over its quota is a 429 with the seconds until the earliest
 * reset; every one rate-limited or over quota is a 429 with the seconds until the first is
 * usable again; every one skipped because the store is unreachable is a 503; otherwise a 502
 * naming each provider with what happened.
 */
function noProviderServed(model: string, r: Extract<ProxyResult, { kind: 'failed' }>, now: number): Error {
  const { attempts, skipped } = r;
  if (attempts.length === 0 && skipped.length > 0) {
    if (skipped.every((s) => s.reason === 'quota exhausted')) {
      return quotaExceeded(Math.min(...skipped.map((s) => s.resetAt)) / 1000 - now / 1000);
    }
    if (skipped.every((s) => s.reason === 'usage store unavailable')) return usageStoreUnavailable(model);
  }
  const tried = describeTried(attempts, skipped);
  if (r.retryAt !== null) return allProvidersRateLimited(model, (r.retryAt - now) / 1000, tried);
  return allProvidersFailed(model, tried);
}

function describeTried(attempts: readonly Attempt[], skipped: readonly Skip[]): string {
  const tried = summarize(attempts);
  const notTried = skipped.map((s) => `${s.provider} (${s.reason})`).join(', ');
  return attempts.length === 0 ? notTried : notTried ? `${tried}, ${notTried}` : tried;
}

/** `primary (503, 503, 503), backup (connection refused)`: names and statuses, never hosts or keys. */
export function summarize(attempts: readonly Attempt[]): string {
  const byProvider = new Map<string, string[]>();
  for (const a of attempts) {
    const list = byProvider.get(a.provider);
    if (list) list.push(a.result);
    else byProvider.set(a.provider, [a.result]);
  }
  if (byProvider.size === 0) return 'nothing';
  return [...byProvider.entries()].map(([name, results]) => `${name} (${results.join(', ')})`).join(', ');
}
