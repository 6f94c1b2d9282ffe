import type { FastifyRequest } from 'fastify';
import type { Attempt } from '../upstream/proxy.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Traffic } from './traffic.js';

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
  /** Milliseconds from the request to the first streamed byte sent to the client. */
  firstByteMs: number | null;
  clientGone: boolean;
  streamError: string | null;
  /** The reply was taken over (a stream): its own code finishes the request, not the response hook. */
  hijacked: boolean;
  finished: boolean;
}

export function newTrace(): RequestTrace {
  return {
    model: null, stream: false, provider: null, attempts: [], tokens: null, promptTokens: null, completionTokens: null,
    tokensEstimated: false, firstByteMs: null, clientGone: false, streamError: null, hijacked: false, finished: false,
  };
}

/**
 * Once per proxied request, when it is over: the metrics, and (with `log_requests`) one log line
 * with the id, model, every try, the final status, latency, time to first byte and tokens.
 */
export function finishRequest(request: FastifyRequest, status: number, deps: { logger: Logger; metrics: Metrics; traffic: Traffic; logRequests: boolean }): void {
  const t = request.trace;
  if (t.finished || !request.url.startsWith('/v1/') || request.method !== 'POST') return;
  t.finished = true;
  const ms = Math.round(performance.now() - request.startedAt);
  if (t.model !== null) {
    deps.metrics.observe({
      model: t.model, provider: t.provider, status, stream: t.stream, attempts: t.attempts, latencyMs: ms, firstByteMs: t.firstByteMs,
      tokens: t.promptTokens === null ? null : { prompt: t.promptTokens, completion: t.completionTokens ?? 0, estimated: t.tokensEstimated },
    });
    deps.traffic.record(t.model, {
      id: request.id, at: Date.now(), model: t.model, stream: t.stream, status, provider: t.provider, tries: t.attempts,
      latencyMs: ms, tokens: t.tokens, tokensEstimated: t.tokensEstimated,
    });
  }
  if (!deps.logRequests) return;
  const line = {
    reqId: request.id, method: request.method, path: request.url, model: t.model, stream: t.stream, status,
    provider: t.provider, tries: t.attempts, latencyMs: ms, tokens: t.tokens,
    ...(t.tokensEstimated ? { tokensEstimated: true } : {}),
    ...(t.firstByteMs !== null ? { firstByteMs: t.firstByteMs } : {}),
    ...(t.clientGone ? { clientGone: true } : {}),
    ...(t.streamError ? { streamError: t.streamError } : {}),
  };
  const msg = `${request.method} ${request.url} ${t.model ?? '-'} ${status}${t.provider ? ` via ${t.provider}` : ''} in ${ms} ms`;
  if (status >= 500) deps.logger.error(line, msg);
  else deps.logger.info(line, msg);
}
