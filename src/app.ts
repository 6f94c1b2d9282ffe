import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { sameUpstream } from './config/diff.js';
import type { GatewayConfig } from './config/load.js';
import { Reloader, type ReloadResult } from './config/reloader.js';
import { clientError, crossSiteRequest, GatewayError, internalError, keysUnavailable, routeNotFound, shuttingDown, unauthorized, unsupportedMediaType } from './errors.js';
import { Keys } from './keys/keys.js';
import type { KeyRecord } from './keys/record.js';
import type { GatewayLogger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { capped, finishRequest, newTrace, type RequestTrace } from './observability/request-log.js';
import { Traffic } from './observability/traffic.js';
import { HealthBook } from './routing/health.js';
import { Affinity } from './routing/affinity.js';
import type { RoundRobinState } from './routing/select.js';
import { registerAdminRoutes } from './server/admin.js';
import { registerKeyRoutes } from './server/keys.js';
import { guardFor, isCrossSite, keyMatches, presentedKey } from './server/auth.js';
import { acceptableBodyType, BodyBudget, closeGracefully, hasUnreadBody, registerBodyParser } from './server/body.js';
import { registerDashboard } from './server/dashboard.js';
import { Inflight } from './server/inflight.js';
import { registerOpenAiRoutes } from './server/openai.js';
import { registerAnthropicRoutes } from './server/anthropic.js';
import { registerResponsesRoutes } from './server/responses.js';
import type { ClientFormat } from './protocols/format.js';
import { Pools } from './upstream/pools.js';
import { defaultBackoff, type ProxyDeps } from './upstream/proxy.js';
import { Quota } from './usage/quota.js';
import type { UsageSink } from './usage/sink.js';
import { SqliteStore } from './usage/sqlite-store.js';
import type { UsageStore } from './usage/store.js';

export interface AppDeps {
  config: GatewayConfig;
  log: GatewayLogger;
  /** The file the configuration came from: enables `POST /admin/reload` and `state.reload()`. */
  configPath?: string;
  /** Where `${NAME}` values are read from at reload (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Epoch milliseconds; tests pass their own. */
  now?: () => number;
  backoffMs?: (n: number) => number;
  /** Also receives every request's usage (tests). */
  usage?: UsageSink;
  /** Where usage and quotas live; an in-memory SQLite store when not given. */
  store?: UsageStore;
  /** The zone of cron periods (default `TZ`, else UTC). */
  tz?: string;
  /**
   * How long a client may take to send its headers, and its whole request: slow-loris
   * connections are cut after these (checked every second).
   */
  clientTimeouts?: { headersMs: number; requestMs: number };
}

declare module 'fastify' {
  interface FastifyRequest {
    trace: RequestTrace;
    startedAt: number;
    /** The usage accounting that runs after the reply: the log line waits for it. */
    settled: Promise<void> | null;
    /** The virtual key the request came with (SPEC §8); null for the master key or none. */
    key: KeyRecord | null;
  }
}

export interface GatewayState {
  config(): GatewayConfig;
  /** Swaps in a validated configuration; requests in flight keep the one they started with. */
  swap(next: GatewayConfig): void;
  /** Rereads the configuration file (serialized with every other reload). */
  reload(trigger: string): Promise<ReloadResult>;
  /** Watches the configuration file and reloads when it changes. */
  watchConfig(): void;
  readonly health: HealthBook;
  /** Session pins and their counts (SPEC §9). */
  readonly affinity: Affinity;
  readonly rr: RoundRobinState;
  readonly proxyDeps: ProxyDeps;
  readonly now: () => number;
  readonly log: GatewayLogger;
  /** Requests in flight and their accounting: a shutdown waits for them before closing the store. */
  readonly inflight: Inflight;
  /** Where each finished request's usage goes. */
  readonly usage: UsageSink;
  readonly quota: Quota;
  /** Virtual keys (SPEC §8), kept in the usage store. */
  readonly keys: Keys;
  /** The zone of cron periods. */
  readonly tz: string;
  readonly metrics: Metrics;
  /** The last minutes of traffic and the latest requests, for the dashboard. */
  readonly traffic: Traffic;
  /** The request bodies being received at once (`_global.max_body_bytes_in_flight`). */
  readonly bodies: BodyBudget;
  /** Set at shutdown: `/health` says 503 and new requests are refused. */
  draining: boolean;
  /** Metrics and the log line of a request, once, when it is over. */
  finishRequest(request: FastifyRequest, status: number): void;
}

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** Builds the whole gateway without listening: `main.ts` listens, tests use a port of their own. */
export function buildApp(deps: AppDeps): { app: FastifyInstance; state: GatewayState } {
  let config = deps.config;
  const now = deps.now ?? Date.now;
  const logger = deps.log.logger;
  const tz = deps.tz ?? (process.env.TZ || 'UTC');
  deps.log.setSecrets(config.secrets);
  const pools = new Pools();
  const health = new HealthBook();
  const quota = new Quota(deps.store ?? new SqliteStore(':memory:'), tz, now, logger);
  quota.configure(config);
  const keys = new Keys(quota.store.keys, now, logger);
  const keysLoaded = keys.start(quota.store.kind === 'redis');
  const extraSink = deps.usage;
  const rr: RoundRobinState = new Map();
  const affinity = new Affinity(() => quota.store.pins, now);

  const swap = (next: GatewayConfig): void => {
    const before = config.providers;
    config = next;
    deps.log.setSecrets(next.secrets);
    const after = next.providers;
    health.retain(new Set([...after.keys()].filter((id) => {
      const old = before.get(id);
      return old !== undefined && sameUpstream(old, after.get(id)!);
    })));
    for (const id of rr.keys()) if (!after.has(id)) rr.delete(id);
    affinity.retain(new Set(after.keys()));
    quota.configure(next);
    pools.retain(new Set([...after.values()].map((p) => p.origin)));
  };
  const reloader = deps.configPath
    ? new Reloader({ path: deps.configPath, options: () => ({ env: deps.env ?? process.env, tz }), current: () => config, swap, logger })
    : null;

  const metrics = new Metrics({
    config: () => config,
    coolingUntil: (id) => health.coolingUntil(id, now()),
    counters: (providers) => quota.counters(providers),
    limits: (p) => quota.limits(p),
    storedResponses: () => quota.store.responses.stats(),
  });

  const traffic = new Traffic(now);
  const inflight = new Inflight();
  const state: GatewayState = {
    config: () => config,
    swap,
    reload: (trigger) => reloader ? reloader.reload(trigger) : Promise.resolve({ ok: false, errors: ['this gateway was not started from a configuration file'] }),
    watchConfig: () => reloader?.watch(),
    health,
    affinity,
    rr,
    now,
    log: deps.log,
    inflight,
    usage: extraSink ? { record: (u) => (quota.record(u), extraSink.record(u)) } : quota,
    quota,
    keys,
    tz,
    metrics,
    traffic,
    bodies: new BodyBudget(() => config.global.max_body_bytes_in_flight),
    draining: false,
    proxyDeps: { pools, health, logger, now, quota, secrets: () => config.secrets, backoffMs: deps.backoffMs ?? defaultBackoff },
    finishRequest: (request, status) => finishRequest(request, status, {
      logger, metrics, traffic, logRequests: config.global.log_requests, isKnownModel: (name) => config.models.has(name),
    }),
  };

  const timeouts = deps.clientTimeouts ?? { headersMs: 15_000, requestMs: 60_000 };
  const app = Fastify({
    logger: false,
    http: { headersTimeout: timeouts.headersMs, connectionsCheckingInterval: 1000, maxHeaderSize: 16 * 1024 },
    requestTimeout: timeouts.requestMs,
    // What Node's HTTP parser refuses (malformed or smuggling-shaped requests, slow clients,
    // headers too large) is answered in OpenAI format too, and the connection closed.
    clientErrorHandler: (err, socket) => {
      const code = (err as { code?: string }).code;
      const [status, text, message] = code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'The request was not received in time.']
        : code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'The request headers are too large.']
          : [400, 'Bad Request', 'The request is not valid HTTP.'];
      const body = JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: `http_${status}` } });
      if (socket.writable) {
        socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
      socket.destroySoon();
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Shutdown is answered by the gateway itself, in OpenAI format (see `draining`).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: false, caseSensitive: true },
  });

  app.decorateRequest('trace', null as unknown as RequestTrace);
  app.decorateRequest('startedAt', 0);
  app.decorateRequest('settled', null);
  app.decorateRequest('key', null);
  registerBodyParser(app, { maxBytes: () => config.global.max_body_bytes, budget: state.bodies });

  app.addHook('onRequest', async (request, reply) => {
    request.startedAt = performance.now();
    request.trace = newTrace();
    reply.header('x-request-id', request.id);
    const guard = guardFor(request.routeOptions.url);
    if (state.draining && guard !== 'open') throw shuttingDown();
    // Reads are safe from other sites (no CORS: their pages cannot see the answer); writes are not.
    const writes = request.method !== 'GET' && request.method !== 'HEAD' && request.method !== 'OPTIONS';
    if (writes && isCrossSite(request)) throw crossSiteRequest();
    const g = config.global;
    if (guard === 'admin') {
      // Only the admin key (else the master key) opens admin routes; a virtual key never does.
      const expected = g.admin_key || g.api_key;
      if (expected && !keyMatches(presentedKey(request), expected)) throw unauthorized();
    } else if (guard === 'api') {
      const presented = presentedKey(request);
      if (!(g.api_key && keyMatches(presented, g.api_key))) {
        // Until the keys could be read (a shared store down since start), whether any exist is
        // unknown: refused rather than served unchecked.
        if (!keys.ready) throw keysUnavailable();
        if (keys.any) {
          const r = keys.authenticate(presented);
          if (!r.ok) throw unauthorized();
          request.key = r.key;
          request.trace.key = r.key.name;
        } else if (g.api_key) {
          throw unauthorized();
        }
      }
    }
    if (writes && !acceptableBodyType(request.raw)) throw unsupportedMediaType();
  });
  // An answer given before the request's body was read to its end (401, 413, busy, …) closes
  // the connection gracefully, so that the client can read it without sending the rest.
  const lingering = new Set<Socket>();
  app.addHook('onSend', (request, reply, payload, done) => {
    if (hasUnreadBody(request.raw)) closeGracefully(request.raw, reply, lingering);
    done(null, payload);
  });
  app.addHook('preClose', async () => {
    for (const socket of lingering) socket.destroy();
  });
  app.addHook('onResponse', async (request, reply) => {
    if (request.trace.hijacked) return;
    if (request.settled) await request.settled;
    state.finishRequest(request, reply.statusCode);
  });

  app.setErrorHandler((err, request, reply) => {
    const e = err instanceof GatewayError ? err : fromFastifyError(err);
    if (e.status === 500) logger.error({ reqId: request.id, err }, `ERROR unhandled: ${capped(String((err as Error).message))}`);
    if (e.code === 'shutting_down') reply.header('connection', 'close');
    // Each route answers in its clients' format (Anthropic's for /v1/messages); OpenAI's by default.
    const format = (request.routeOptions.config as { format?: ClientFormat } | undefined)?.format;
    return reply.code(e.status).headers(e.headers).send(format ? format.error(e.info()) : e.toJSON());
  });
  app.setNotFoundHandler((request) => {
    throw routeNotFound(request.method, request.url.split('?')[0] ?? '');
  });

  app.get('/health', async (_request, reply) => {
    if (state.draining) return reply.code(503).send({ status: 'draining', store: quota.store.kind });
    const ok = await quota.store.healthy();
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', store: quota.store.kind, ...(ok ? {} : { error: 'usage store unreachable' }) });
  });
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(text);
  });
  registerOpenAiRoutes(app, state);
  registerAnthropicRoutes(app, state);
  registerResponsesRoutes(app, state);
  registerAdminRoutes(app, state);
  registerKeyRoutes(app, state);
  registerDashboard(app, () => Boolean(config.global.admin_key || config.global.api_key));
  app.addHook('onReady', async () => {
    await keysLoaded;
  });
  app.addHook('onClose', async () => {
    reloader?.close();
    keys.close();
    // Streams cut at the shutdown deadline record their usage before the store closes.
    await inflight.settle(5000);
    await pools.close();
    await quota.close();
  });
  return { app, state };
}

function fromFastifyError(err: unknown): GatewayError {
  const e = err as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return clientError(e.statusCode, typeof e.code === 'string' ? e.code : 'invalid_request', String(e.message));
  }
  return internalError();
}
