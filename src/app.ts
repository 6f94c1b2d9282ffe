import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { GatewayConfig } from './config/load.js';
import { GatewayError, internalError, routeNotFound, unauthorized } from './errors.js';
import type { GatewayLogger } from './observability/logger.js';
import { HealthBook } from './routing/health.js';
import type { RoundRobinState } from './routing/select.js';
import { guardFor, keyMatches, presentedKey } from './server/auth.js';
import { registerAdminRoutes } from './server/admin.js';
import { registerBodyParser } from './server/body.js';
import { registerOpenAiRoutes } from './server/openai.js';
import { Pools } from './upstream/pools.js';
import { Quota } from './usage/quota.js';
import type { UsageSink } from './usage/sink.js';
import { SqliteStore } from './usage/sqlite-store.js';
import type { UsageStore } from './usage/store.js';
import { defaultBackoff, type Attempt, type ProxyDeps } from './upstream/proxy.js';

export interface AppDeps {
  config: GatewayConfig;
  log: GatewayLogger;
  /** Epoch milliseconds; tests pass their own. */
  now?: () => number;
  backoffMs?: (n: number) => number;
  maxResponseBytes?: number;
  /** Also receives every request's usage (tests). */
  usage?: UsageSink;
  /** Where usage and quotas live; an in-memory SQLite store when not given. */
  store?: UsageStore;
  /** The zone of cron periods (default `TZ`, else UTC). */
  tz?: string;
}

/** What one request leaves behind for its log line. */
export interface RequestTrace {
  model: string | null;
  stream: boolean;
  provider: string | null;
  attempts: Attempt[];
  tokens: number | null;
  tokensEstimated: boolean;
  /** Milliseconds from the request to the first streamed byte sent to the client. */
  firstByteMs: number | null;
  clientGone: boolean;
  streamError: string | null;
  logged: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    trace: RequestTrace;
  }
}

export interface GatewayState {
  config(): GatewayConfig;
  swap(next: GatewayConfig): void;
  readonly health: HealthBook;
  readonly rr: RoundRobinState;
  readonly pools: Pools;
  readonly proxyDeps: ProxyDeps;
  readonly now: () => number;
  readonly log: GatewayLogger;
  /** Where each finished request's usage goes. */
  readonly usage: UsageSink;
  readonly quota: Quota;
  /** Writes the one line of a request (when `log_requests`), once. */
  logRequest(request: FastifyRequest, status: number): void;
}

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** Builds the whole gateway without listening: `main.ts` listens, tests use a port of their own. */
export function buildApp(deps: AppDeps): { app: FastifyInstance; state: GatewayState } {
  let config = deps.config;
  const now = deps.now ?? Date.now;
  const logger = deps.log.logger;
  deps.log.setSecrets(config.secrets);
  const pools = new Pools();
  const health = new HealthBook();
  const quota = new Quota(deps.store ?? new SqliteStore(':memory:'), deps.tz ?? (process.env.TZ || 'UTC'), now, logger);
  quota.configure(config);
  const extraSink = deps.usage;

  const state: GatewayState = {
    config: () => config,
    swap(next) {
      config = next;
      deps.log.setSecrets(next.secrets);
      const ids = new Set<string>();
      const origins = new Set<string>();
      for (const m of next.models.values()) for (const p of m.providers) { ids.add(p.id); origins.add(p.origin); }
      health.retain(ids);
      quota.configure(next);
      for (const id of state.rr.keys()) if (!ids.has(id)) state.rr.delete(id);
      pools.retain(origins);
    },
    health,
    rr: new Map(),
    pools,
    now,
    log: deps.log,
    usage: extraSink ? { record: (u) => (quota.record(u), extraSink.record(u)) } : quota,
    quota,
    proxyDeps: { pools, health, logger, now, quota, backoffMs: deps.backoffMs ?? defaultBackoff, maxResponseBytes: deps.maxResponseBytes ?? 64 * 1024 * 1024 },
    logRequest(request, status) {
      const t = request.trace;
      if (t.logged || !config.global.log_requests || !request.url.startsWith('/v1/')) return;
      t.logged = true;
      const ms = Math.round(performance.now() - (request.startedAt ?? 0));
      const line = {
        reqId: request.id, method: request.method, path: request.url, model: t.model, stream: t.stream, status,
        provider: t.provider, tries: t.attempts, latencyMs: ms, tokens: t.tokens,
        ...(t.tokensEstimated ? { tokensEstimated: true } : {}), ...(t.firstByteMs !== null ? { firstByteMs: t.firstByteMs } : {}),
        ...(t.clientGone ? { clientGone: true } : {}), ...(t.streamError ? { streamError: t.streamError } : {}),
      };
      const msg = `${request.method} ${request.url} ${t.model ?? '-'} ${status}${t.provider ? ` via ${t.provider}` : ''} in ${ms} ms`;
      if (status >= 500) logger.error(line, msg);
      else logger.info(line, msg);
    },
  };

  const app = Fastify({
    logger: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: false, caseSensitive: true },
  });

  app.decorateRequest('trace', null as unknown as RequestTrace);
  app.decorateRequest('startedAt', 0);
  registerBodyParser(app, () => config.global.max_body_bytes);

  app.addHook('onRequest', async (request, reply) => {
    request.startedAt = performance.now();
    request.trace = {
      model: null, stream: false, provider: null, attempts: [], tokens: null, tokensEstimated: false,
      firstByteMs: null, clientGone: false, streamError: null, logged: false,
    };
    reply.header('x-request-id', request.id);
    const guard = guardFor(request.routeOptions.url);
    if (guard === 'open') return;
    const g = config.global;
    const expected = guard === 'admin' ? g.admin_key || g.api_key : g.api_key;
    if (expected && !keyMatches(presentedKey(request), expected)) throw unauthorized();
  });
  app.addHook('onResponse', async (request, reply) => state.logRequest(request, reply.statusCode));

  app.setErrorHandler((err, request, reply) => {
    const e = err instanceof GatewayError ? err : fromFastifyError(err);
    if (e.status === 500) logger.error({ reqId: request.id, err }, `ERROR unhandled: ${(err as Error).message}`);
    if (e.status === 413) reply.header('connection', 'close');
    return reply.code(e.status).headers(e.headers).send(e.toJSON());
  });
  app.setNotFoundHandler((request) => {
    throw routeNotFound(request.method, request.url.split('?')[0] ?? '');
  });

  app.get('/health', async (_request, reply) => {
    const ok = await quota.store.healthy();
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', store: quota.store.kind, ...(ok ? {} : { error: 'usage store unreachable' }) });
  });
  registerOpenAiRoutes(app, state);
  registerAdminRoutes(app, state);
  app.addHook('onClose', async () => {
    await pools.close();
    await quota.close();
  });
  return { app, state };
}

declare module 'fastify' {
  interface FastifyRequest {
    startedAt: number;
  }
}

function fromFastifyError(err: unknown): GatewayError {
  const e = err as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new GatewayError(e.statusCode, 'invalid_request_error', typeof e.code === 'string' ? e.code : 'invalid_request', String(e.message));
  }
  return internalError();
}
