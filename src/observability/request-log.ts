import type { FastifyRequest } from 'fastify';
import type { Attempt } from '../upstream/proxy.js';
import { preparedLine, type Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Traffic } from './traffic.js';
import type { AffinityResult } from '../routing/affinity.js';

/** What one request leaves behind for its log line and metrics. */
export interface RequestTrace {
  model: string | null;
  stream: boolean;
  provider: string | null;
  attempts: Attempt[];
  tokens: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  tokensEstimated: boolean;
  /** USD of the request; null when its price is unknown (or nothing was counted). */
  cost: number | null;
  /** The name of the virtual key that made the request (never its secret); null for the master key. */
  key: string | null;
  /** Milliseconds from the request to the first streamed byte sent to the client. */
  firstByteMs: number | null;
  clientGone: boolean;
  /** Why a stream broke after content reached the client (it ended with the format's error): counted as interrupted. */
  streamError: string | null;
  /** How the session's pin went (SPEC §9); null without a session. */
  affinity: AffinityResult | null;
  /** The reply was taken over (a stream): its own code finishes the request, not the response hook. */
  hijacked: boolean;
  finished: boolean;
}

export function newTrace(): RequestTrace {
  return {
    model: null, stream: false, provider: null, attempts: [], tokens: null, promptTokens: null, completionTokens: null,
    tokensEstimated: false, cost: null, key: null, firstByteMs: null, clientGone: false, streamError: null, affinity: null, hijacked: false, finished: false,
  };
}

/** The one label, dashboard row and metrics bucket of every model name that is not configured. */
export const UNKNOWN_MODEL = '(unknown)';

/** The most of a client-chosen string (model name, path, …) that reaches a log line. */
export const LOGGED_CHARS = 256;

/** `s` cut to `max` characters, with an ellipsis when it was longer: logs stay bounded whatever a client sends. */
export function capped(s: string, max = LOGGED_CHARS): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

export interface FinishDeps {
  logger: Logger;
  metrics: Metrics;
  traffic: Traffic;
  logRequests: boolean;
  /** Whether a model name is configured: only those become labels and dashboard rows. */
  isKnownModel(name: string): boolean;
}

/**
 * Once per proxied request, when it is over: the metrics, and (with `log_requests`) one log line
 * with the id, model, every try, the final status, latency, time to first byte and tokens.
 * The model comes from the client: a name that is not configured is counted as `(unknown)`
 * (else each invented name would be a new series forever), and every client-chosen string is
 * cut to LOGGED_CHARS in the log line.
 */
export function finishRequest(request: FastifyRequest, status: number, deps: FinishDeps): void {
  const t = request.trace;
  if (t.finished || !request.url.startsWith('/v1/') || request.method !== 'POST') return;
  t.finished = true;
  const ms = Math.round(performance.now() - request.startedAt);
  if (t.model !== null) {
    const model = deps.isKnownModel(t.model) ? t.model : UNKNOWN_MODEL;
    deps.metrics.observe({
      model, endpoint: request.routeOptions.url ?? '', provider: t.provider, status, stream: t.stream, attempts: t.attempts, latencyMs: ms, firstByteMs: t.firstByteMs,
      tokens: t.promptTokens === null ? null : { prompt: t.promptTokens, completion: t.completionTokens ?? 0, estimated: t.tokensEstimated },
      cost: t.cost, key: t.key, interrupted: t.streamError !== null, affinity: t.affinity,
    });
    deps.traffic.record(model, {
      id: request.id, at: Date.now(), model, stream: t.stream, status, provider: t.provider, tries: t.attempts,
      latencyMs: ms, tokens: t.tokens, tokensEstimated: t.tokensEstimated, interrupted: t.streamError !== null,
    });
  }
  if (!deps.logRequests) return;
  // The query string is never logged: a client may put a key there (which is never accepted).
  const q = request.url.indexOf('?');
  const bare = q < 0 ? request.url : request.url.slice(0, q);
  const path = capped(bare);
  const model = t.model === null ? null : capped(t.model);
  const msg = `${request.method} ${capped(bare, 64)} ${model === null ? '-' : capped(model, 64)} ${status}${t.provider ? ` via ${t.provider}` : ''} in ${ms} ms`;
  // The fields in a fixed order, serialized by hand (see preparedLine): every string through JSON.stringify.
  let fields = `"reqId":${JSON.stringify(request.id)},"method":${JSON.stringify(request.method)},"path":${JSON.stringify(path)},"model":${model === null ? 'null' : JSON.stringify(model)}`
    + `,"stream":${t.stream},"status":${status},"provider":${t.provider === null ? 'null' : JSON.stringify(t.provider)},"tries":${JSON.stringify(t.attempts)}`
    + `,"latencyMs":${ms},"tokens":${JSON.stringify(t.tokens)}`;
  if (t.cost !== null) fields += `,"cost":${JSON.stringify(t.cost)}`;
  if (t.key !== null) fields += `,"key":${JSON.stringify(t.key)}`;
  if (t.tokensEstimated) fields += ',"tokensEstimated":true';
  if (t.firstByteMs !== null) fields += `,"firstByteMs":${JSON.stringify(t.firstByteMs)}`;
  if (t.clientGone) fields += ',"clientGone":true';
  if (t.streamError) fields += `,"streamError":${JSON.stringify(capped(t.streamError))},"interrupted":true`;
  if (t.affinity !== null) fields += `,"affinity":${JSON.stringify(t.affinity)}`;
  preparedLine(deps.logger, status >= 500 ? 'error' : 'info', `${fields},"msg":${JSON.stringify(msg)}`);
}
