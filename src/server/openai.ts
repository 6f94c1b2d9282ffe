import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { allProvidersFailed, contextLengthExceeded, invalidRequest, modelNotFound, noProviderAvailable, quotaExceeded, usageStoreUnavailable } from '../errors.js';
import type { ProviderConfig } from '../config/load.js';
import { loadTokenizer, promptTokens } from '../usage/tokens.js';
import { candidatesFor } from '../routing/candidates.js';
import { orderProviders } from '../routing/select.js';
import { proxy, type Attempt, type Endpoint, type Skip } from '../upstream/proxy.js';
import type { GatewayState } from '../app.js';
import { accountAbandoned, sendJson, sendStream, sendSynthesized, type ReplyContext } from './reply.js';

/** The OpenAI surface: `/v1/models` and the three proxied endpoints. */
export function registerOpenAiRoutes(app: FastifyInstance, state: GatewayState): void {
  app.get('/v1/models', async () => {
    const data = [...state.config().models.values()]
      .filter((m) => m.providers.some((p) => p.enabled))
      .map((m) => ({ id: m.name, object: 'model', created: 0, owned_by: 'api-gateway' }));
    return { object: 'list', data };
  });

  const route = (endpoint: Endpoint) => (request: FastifyRequest, reply: FastifyReply) => handle(endpoint, request, reply, state);
  app.post('/v1/chat/completions', route('/chat/completions'));
  app.post('/v1/completions', route('/completions'));
  app.post('/v1/embeddings', route('/embeddings'));
}

async function handle(endpoint: Endpoint, request: FastifyRequest, reply: FastifyReply, state: GatewayState): Promise<void> {
  // The whole request runs on the snapshot it started with, whatever a reload does meanwhile.
  const config = state.config();
  const body = checkBody(endpoint, request.body);
  const trace = request.trace;
  trace.model = body.model;
  const stream = endpoint !== '/embeddings' && body.stream === true;
  trace.stream = stream;

  const model = config.models.get(body.model);
  if (!model) throw modelNotFound(body.model);
  const candidates = candidatesFor(model);
  if (!candidates.ok) throw noProviderAvailable(model.name, candidates.reason);
  const fitting = await withinContext(candidates.providers, body);
  const now = state.now();
  const order = orderProviders(fitting, (id) => state.health.coolingUntil(id, now), state.rr);

  const abort = new AbortController();
  const onClose = (): void => {
    if (!reply.raw.writableFinished) abort.abort();
  };
  reply.raw.once('close', onClose);

  const result = await proxy(order, { requestId: request.id, endpoint, body, stream, signal: abort.signal, maxResponseBytes: config.global.max_response_bytes }, state.proxyDeps);
  trace.attempts = result.attempts;
  const options = body.stream_options as { include_usage?: unknown } | null | undefined;
  const ctx: ReplyContext = {
    request, reply, state, body,
    kind: endpoint === '/completions' ? 'text' : 'chat',
    clientWantsUsage: options?.include_usage === true,
  };
  switch (result.kind) {
    case 'json':
      trace.provider = result.provider.name;
      if (stream && result.status < 300) return sendSynthesized(ctx, result);
      await sendJson(ctx, result);
      return;
    case 'stream':
      trace.provider = result.provider.name;
      return sendStream(ctx, result);
    case 'failed':
      throw noProviderServed(model.name, result.attempts, result.skipped, state.now());
    case 'aborted':
      trace.clientGone = true;
      if (result.provider) {
        // The provider that was working on it when the client left is the one charged.
        trace.provider = result.provider.name;
        await accountAbandoned(ctx, result.provider);
      }
      trace.hijacked = true;
      reply.hijack();
      reply.raw.destroy();
      state.finishRequest(request, 499);
      return;
  }
}

/**
 * Providers whose `max_context_length` the prompt fits (its tokens are only counted when some
 * provider sets one). None fits: 400 `context_length_exceeded`.
 */
async function withinContext(providers: readonly ProviderConfig[], body: Record<string, unknown>): Promise<readonly ProviderConfig[]> {
  if (!providers.some((p) => p.max_context_length !== null)) return providers;
  await loadTokenizer();
  const tokens = promptTokens(body);
  const fitting = providers.filter((p) => p.max_context_length === null || tokens <= p.max_context_length);
  if (fitting.length === 0) throw contextLengthExceeded(tokens);
  return fitting;
}

/**
 * Why no provider served: every one over its quota is a 429 with the seconds until the earliest
 * reset; every one skipped because the store is unreachable is a 503; otherwise a 502 naming
 * each provider with what happened.
 */
function noProviderServed(model: string, attempts: readonly Attempt[], skipped: readonly Skip[], now: number): Error {
  if (attempts.length === 0 && skipped.length > 0) {
    if (skipped.every((s) => s.reason === 'quota exhausted')) {
      return quotaExceeded(Math.min(...skipped.map((s) => s.resetAt)) / 1000 - now / 1000);
    }
    if (skipped.every((s) => s.reason === 'usage store unavailable')) return usageStoreUnavailable(model);
  }
  const tried = summarize(attempts);
  const notTried = skipped.map((s) => `${s.provider} (${s.reason})`).join(', ');
  return allProvidersFailed(model, attempts.length === 0 ? notTried : notTried ? `${tried}, ${notTried}` : tried);
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
