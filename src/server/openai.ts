import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayConfig, ModelConfig } from '../config/load.js';
import {
  allProvidersFailed, allProvidersRateLimited, contextLengthExceeded, endpointNotSupported, invalidRequest, modelNotFound,
  noProviderAvailable, quotaExceeded, usageStoreUnavailable,
} from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { HealthBook } from '../routing/health.js';
import { needsPromptTokens, planRoute, type Endpoint, type Plan } from '../routing/plan.js';
import type { RoundRobinState } from '../routing/select.js';
import { conversionFor, type CompletionKind } from '../stream/convert.js';
import { proxy, type Attempt, type ProxyDeps, type ProxyResult, type Skip } from '../upstream/proxy.js';
import { RequestUsage } from '../usage/accounting.js';
import type { UsageSink } from '../usage/sink.js';
import type { Inflight } from './inflight.js';
import { sendAbandoned, sendJson, sendStream, sendSynthesized, type ReplyContext } from './reply.js';

/** What the OpenAI routes use of the gateway: the configuration, routing state, the proxy, usage and the request's end. */
export interface OpenAiRouteDeps {
  config(): GatewayConfig;
  readonly health: HealthBook;
  readonly rr: RoundRobinState;
  readonly proxyDeps: ProxyDeps;
  readonly now: () => number;
  readonly usage: UsageSink;
  readonly logger: Logger;
  readonly inflight: Inflight;
  finishRequest(request: FastifyRequest, status: number): void;
}

/** The OpenAI surface: `/v1/models`, `/v1/models/{id}` and the three proxied endpoints. */
export function registerOpenAiRoutes(app: FastifyInstance, deps: OpenAiRouteDeps): void {
  const served = (m: ModelConfig): boolean => m.providers.some((p) => p.enabled);
  const modelObject = (m: ModelConfig) => ({ id: m.name, object: 'model', created: 0, owned_by: 'api-gateway' });
  app.get('/v1/models', async () => {
    const data = [...deps.config().models.values()].filter(served).map(modelObject);
    return { object: 'list', data };
  });
  // A wildcard: model names may contain `/` (`meta-llama/Llama-3-70b`).
  app.get<{ Params: { '*': string } }>('/v1/models/*', async (request) => {
    const id = request.params['*'];
    const m = deps.config().models.get(id);
    if (!m || !served(m)) throw modelNotFound(id);
    return modelObject(m);
  });

  const route = (endpoint: Endpoint) => (request: FastifyRequest, reply: FastifyReply) => deps.inflight.track(handle(endpoint, request, reply, deps));
  app.post('/v1/chat/completions', route('/chat/completions'));
  app.post('/v1/completions', route('/completions'));
  app.post('/v1/embeddings', route('/embeddings'));
}

async function handle(endpoint: Endpoint, request: FastifyRequest, reply: FastifyReply, deps: OpenAiRouteDeps): Promise<unknown> {
  // The whole request runs on the snapshot it started with, whatever a reload does meanwhile.
  const config = deps.config();
  const body = checkBody(endpoint, request.body);
  const trace = request.trace;
  trace.model = body.model;
  const stream = endpoint !== '/embeddings' && body.stream === true;
  trace.stream = stream;

  const model = config.models.get(body.model);
  if (!model) throw modelNotFound(body.model);
  const declared = Number(request.headers['content-length']);
  const usage = new RequestUsage(body, Number.isFinite(declared) ? declared : config.global.max_body_bytes, trace, deps.usage, deps.logger);
  const promptTokens = needsPromptTokens(model) ? await usage.promptTokens() : null;
  const now = deps.now();
  const plan = planRoute(model, { endpoint, promptTokens }, { coolingUntil: (id) => deps.health.coolingUntil(id, now), rr: deps.rr });
  if (!plan.ok) throw planError(model.name, plan);

  const abort = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) abort.abort();
  });

  const result = await proxy(plan.order, {
    requestId: request.id, endpoint, body, stream, signal: abort.signal,
    maxResponseBytes: config.global.max_response_bytes,
    maxCooldownMs: config.global.max_cooldown_seconds * 1000,
  }, deps.proxyDeps);
  trace.attempts = result.attempts;
  const options = body.stream_options as { include_usage?: unknown } | null | undefined;
  const kind: CompletionKind = endpoint === '/completions' ? 'text' : 'chat';
  const ctx: ReplyContext = { request, reply, usage, kind, clientWantsUsage: options?.include_usage === true, finish: (status) => deps.finishRequest(request, status), inflight: deps.inflight };
  return respond(ctx, result, stream, model.name, deps.now());
}

function respond(ctx: ReplyContext, result: ProxyResult, clientStream: boolean, model: string, now: number): unknown {
  const trace = ctx.request.trace;
  switch (result.kind) {
    case 'json':
      trace.provider = result.provider.name;
      if (result.status < 300 && conversionFor(clientStream, false) === 'synthesize') return sendSynthesized(ctx, result);
      return sendJson(ctx, result);
    case 'stream':
      trace.provider = result.provider.name;
      return sendStream(ctx, result);
    case 'failed':
      throw noProviderServed(model, result, now);
    case 'aborted':
      return sendAbandoned(ctx, result.provider);
  }
}

function planError(model: string, plan: Exclude<Plan, { ok: true }>): Error {
  switch (plan.why) {
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

interface CheckedBody extends Record<string, unknown> {
  model: string;
}

function checkBody(endpoint: Endpoint, body: unknown): CheckedBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidRequest('The request body must be a JSON object.');
  }
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model.length === 0) throw invalidRequest('`model` must be a non-empty string.', 'model');
  if (endpoint === '/chat/completions' && !Array.isArray(b.messages)) throw invalidRequest('`messages` must be an array.', 'messages');
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') throw invalidRequest('`stream` must be a boolean.', 'stream');
  return b as CheckedBody;
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
