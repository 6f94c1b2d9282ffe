import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import type { ProviderConfig } from '../config/load.js';
import type { Logger } from '../observability/logger.js';
import type { HealthBook } from '../routing/health.js';
import type { Endpoint } from '../routing/plan.js';
import type { Quota } from '../usage/quota.js';
import { conversionFor, type CompletionKind } from '../stream/convert.js';
import { foldStream, UpstreamStream, type ByteSource } from '../stream/upstream-stream.js';
import { classify, describe, type TryOutcome } from './classify.js';
import type { Pools } from './pools.js';
import { upstreamBody, type UpstreamBody } from './request-body.js';
import { Untranslatable } from '../providers/index.js';
import { inEncoding } from './embeddings.js';
import { upstreamPath } from './wire.js';
import { upstreamErrorInfo } from './sanitize.js';
import type { ErrorInfo, NativePassThrough } from '../protocols/format.js';

/**
 * The try / retry / fail-over loop (SPEC §3): every provider of the order at most once, each
 * with its own retries; the first usable answer wins. Every discarded answer's body is consumed
 * or destroyed so its connection goes back to the pool or is closed.
 */


export interface ProxyRequest {
  requestId: string;
  endpoint: Endpoint;
  /** The client's body, parsed; only `model` is rewritten per provider. */
  body: Record<string, unknown>;
  /** The client asked for a stream. */
  stream: boolean;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  /** Largest non-streamed answer accepted (`_global.max_response_bytes`). */
  maxResponseBytes: number;
  /** No cooldown lasts longer, whatever a provider asks (`_global.max_cooldown_seconds`). */
  maxCooldownMs: number;
  /** `reasoning_effort` a translated request implies, for providers that take it (`reasoning: true`). */
  reasoningEffort?: string | null;
  /** The client's format, for providers that speak it: they get its own body on its own endpoint. */
  native?: NativePassThrough | null;
  /** The client's own body and headers, for such providers. */
  clientBody?: Record<string, unknown>;
  clientHeaders?: Readonly<Record<string, string | string[] | undefined>>;
}

/** Comments and blank lines accepted before a stream's first data event. */
export const MAX_PRELUDE_BYTES = 1024 * 1024;

export interface Attempt {
  provider: string;
  /** Status code or short words (`timeout`, `connection refused`), never a host or key. */
  result: string;
  ms: number;
}

export interface Skip {
  provider: string;
  reason: 'quota exhausted' | 'usage store unavailable';
  /** Epoch ms when the provider's quota resets. */
  resetAt: number;
}

interface Served {
  provider: ProviderConfig;
  /** The provider answered in the client's own format (`ProxyRequest.native`). */
  native: boolean;
  status: number;
  contentType: string;
  attempts: Attempt[];
}

export type ProxyResult =
  /**
   * A whole answer: a success (native, or folded from a stream when the provider only
   * streams).
   */
  | (Served & { kind: 'json'; body: Buffer; json: unknown })
  /** A client error the provider answered (scrubbed): it goes back to the client, in the client's format. */
  | (Served & { kind: 'error'; error: ErrorInfo })
  /** A stream whose first data event has arrived: from here on there is no failover. */
  | (Served & { kind: 'stream'; stream: UpstreamStream })
  /**
   * No provider served it; `skipped` are those not tried (quota used up, store unavailable).
   * `retryAt` (epoch ms) is set when every provider was rate-limited (429) or over its quota:
   * the earliest moment one of them is usable again.
   */
  | { kind: 'failed'; attempts: Attempt[]; skipped: Skip[]; retryAt: number | null }
  /** The client went away; `provider` is the one that was being tried, if any. */
  | { kind: 'aborted'; attempts: Attempt[]; provider: ProviderConfig | null };

export interface ProxyDeps {
  pools: Pools;
  health: HealthBook;
  logger: Logger;
  now: () => number;
  /** Wait before retry number `n` (1-based) on the same provider. */
  backoffMs: (n: number) => number;
  quota: Quota;
  /** The configured secrets, scrubbed from upstream error texts. */
  secrets: () => readonly string[];
}

/** 100 ms, 200 ms, 400 ms … capped at 2 s, each scaled by a random 50–100 %. */
export const defaultBackoff = (n: number): number => Math.min(2000, 100 * 2 ** (n - 1)) * (0.5 + Math.random() / 2);

type TryResult =
  | { done: true; result: ProxyResult }
  | { done: false; outcome: TryOutcome; retryAfterMs: number | null; beforeAnswer?: boolean };

const invalid: TryResult = { done: false, outcome: { kind: 'invalid' }, retryAfterMs: null };

export async function proxy(order: readonly ProviderConfig[], req: ProxyRequest, deps: ProxyDeps): Promise<ProxyResult> {
  const attempts: Attempt[] = [];
  const skipped: Skip[] = [];
  const { logger } = deps;
  // Every provider so far was rate-limited or over quota: when each one can serve again.
  let allRateLimited = true;
  const usableAt: number[] = [];
  for (const [index, provider] of order.entries()) {
    // Hold a request of the quota before sending, so concurrent requests never overshoot it.
    const held = await deps.quota.hold(provider);
    if (!held.ok) {
      skipped.push({ provider: provider.name, reason: held.reason, resetAt: held.resetAt });
      if (held.reason === 'quota exhausted') usableAt.push(held.resetAt);
      else allRateLimited = false;
      logger.info({ reqId: req.requestId, model: provider.publicModel, provider: provider.name, reason: held.reason },
        `Skipping provider ${provider.name} for ${provider.publicModel}: ${held.reason}`);
      continue;
    }
    if (req.signal.aborted) {
      deps.quota.release(held.hold);
      return { kind: 'aborted', attempts, provider: null };
    }
    logger.info({ reqId: req.requestId, model: provider.publicModel, provider: provider.name, priority: provider.priority },
      `Selected provider ${provider.name} for ${provider.publicModel}`);
    const native = req.native?.accepts(provider, req.stream) === true ? req.native : null;
    let body: UpstreamBody;
    try {
      body = native
        ? upstreamBody(native.body(req.clientBody ?? {}), native.endpoint, req.stream, provider)
        : upstreamBody(req.body, req.endpoint, req.stream, provider, req.reasoningEffort ?? null);
    } catch (err) {
      if (!(err instanceof Untranslatable)) throw err;
      // The request has something this provider's API cannot say: another provider may take it.
      deps.quota.release(held.hold);
      attempts.push({ provider: provider.name, result: 'cannot translate', ms: 0 });
      allRateLimited = false;
      logger.warn({ reqId: req.requestId, model: provider.publicModel, provider: provider.name, reason: err.message },
        `Switching provider for ${provider.publicModel}: ${provider.name} cannot take this request (${err.message})`);
      continue;
    }
    let last: TryOutcome | null = null;
    let retryAfterMs: number | null = null;
    let freshSocketTried = false;
    for (let tryNo = 0; tryNo <= provider.retry; tryNo++) {
      if (tryNo > 0) {
        try {
          await sleep(deps.backoffMs(tryNo), undefined, { signal: req.signal });
        } catch {
          deps.quota.release(held.hold);
          return { kind: 'aborted', attempts, provider };
        }
      }
      const started = deps.now();
      const r = await tryOnce(provider, native?.endpoint ?? req.endpoint, body, req, deps, attempts, native ? forwarded(native, req) : null);
      if (r.done) {
        const ok = r.result.kind === 'json' || r.result.kind === 'stream';
        if (ok) deps.quota.commit(held.hold);
        else deps.quota.release(held.hold);
        // A client error is the request's fault, not the provider's: it answered.
        if (r.result.kind !== 'failed' && r.result.kind !== 'aborted') deps.health.recordSuccess(provider.id, deps.now() - started);
        return r.result;
      }
      if (req.signal.aborted) {
        deps.quota.release(held.hold);
        return { kind: 'aborted', attempts, provider };
      }
      // A kept-alive socket the provider closed while idle fails before any byte of an answer:
      // try once more at once on a fresh one, and hold it against nobody.
      if (!freshSocketTried && r.beforeAnswer === true && isStaleSocket(r.outcome)) {
        freshSocketTried = true;
        tryNo--;
        continue;
      }
      attempts.push({ provider: provider.name, result: describe(r.outcome), ms: Math.round(deps.now() - started) });
      last = r.outcome;
      retryAfterMs = r.retryAfterMs;
      if (classify(r.outcome) !== 'retry') break;
    }
    deps.quota.release(held.hold);
    if (!last) continue;
    const why = describe(last);
    const failedAt = deps.now();
    const asked = provider.cooldown_seconds === 0 ? 0 : (retryAfterMs ?? provider.cooldown_seconds * 1000);
    const cooldownMs = Math.min(asked, req.maxCooldownMs);
    deps.health.recordFailure(provider.id, failedAt, cooldownMs, why);
    if (last.kind === 'status' && last.status === 429) {
      usableAt.push(failedAt + (cooldownMs > 0 ? cooldownMs : Math.min(retryAfterMs ?? 1000, req.maxCooldownMs)));
    } else {
      allRateLimited = false;
    }
    const nextProvider = order[index + 1];
    logger.warn({ reqId: req.requestId, model: provider.publicModel, provider: provider.name, reason: why, next: nextProvider?.name ?? null },
      nextProvider
        ? `Switching provider for ${provider.publicModel}: ${provider.name} failed (${why}), trying ${nextProvider.name}`
        : `Switching provider for ${provider.publicModel}: ${provider.name} failed (${why}), no provider left`);
  }
  const retryAt = allRateLimited && usableAt.length > 0 ? Math.min(...usableAt) : null;
  return { kind: 'failed', attempts, skipped, retryAt };
}

/** The client headers a native provider also gets: single, short, printable values only. */
function forwarded(native: NativePassThrough, req: ProxyRequest): Record<string, string> | null {
  let out: Record<string, string> | null = null;
  for (const name of native.forwardHeaders ?? []) {
    const v = req.clientHeaders?.[name];
    if (typeof v === 'string' && v.length <= 1024 && /^[\x20-\x7e]*$/.test(v)) (out ??= {})[name] = v;
  }
  return out;
}

async function tryOnce(provider: ProviderConfig, endpoint: Endpoint, upstream: UpstreamBody, req: ProxyRequest, deps: ProxyDeps, attempts: Attempt[], extraHeaders: Record<string, string> | null = null): Promise<TryResult> {
  const native = endpoint !== req.endpoint;
  const { adapter, payload } = upstream;
  const started = deps.now();
  const timeoutMs = provider.timeout * 1000;
  let res: Dispatcher.ResponseData;
  try {
    res = await deps.pools.get(provider.origin).request({
      method: 'POST',
      path: upstreamPath(provider, endpoint, upstream.stream),
      headers: extraHeaders ? { ...provider.upstreamHeaders, ...extraHeaders } : provider.upstreamHeaders,
      body: payload,
      // The wait for the answer's head, and then the longest silence inside its body: a long
      // stream that keeps sending is never cut.
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: req.signal,
    });
  } catch (err) {
    return { done: false, outcome: networkOutcome(err), retryAfterMs: null, beforeAnswer: true };
  }

  const status = res.statusCode;
  const verdict = classify({ kind: 'status', status });
  const contentType = headerValue(res.headers['content-type']);
  const served = (): Served => ({
    provider,
    native,
    status,
    contentType,
    attempts: [...attempts, { provider: provider.name, result: String(status), ms: Math.round(deps.now() - started) }],
  });

  if (verdict === 'retry' || verdict === 'switch') {
    let retryAfterMs = status === 429 ? parseRetryAfter(headerValue(res.headers['retry-after']), deps.now()) : null;
    if (status === 429 && retryAfterMs === null && adapter?.retryAfterMs) {
      // Some providers (Gemini) say when to come back in the body, not in a header.
      const small = await readCapped(res.body, 64 * 1024).catch(() => null);
      if (small) retryAfterMs = adapter.retryAfterMs(small);
    } else {
      discard(res);
    }
    return { done: false, outcome: { kind: 'status', status }, retryAfterMs };
  }

  try {
    if (verdict === 'success' && contentType.includes('text/event-stream')) {
      // A native provider was asked the way the client asked: a stream to a JSON request is no answer.
      if (native && !req.stream) throw Object.assign(new Error('a stream to a JSON request'), { code: 'UPSTREAM_UNEXPECTED_STREAM' });
      // A provider of another kind streams in its own events: read as chat from here on.
      const stream = await openStream(adapter ? adapter.stream(res.body) : res.body, timeoutMs);
      // Folded here, inside the try, so that a stream that breaks before its end still fails over.
      if (conversionFor(req.stream, true) === 'pass') return { done: true, result: { kind: 'stream', ...served(), stream } };
      const kind: CompletionKind = req.endpoint === '/completions' ? 'text' : 'chat';
      const json = await foldStream(stream, kind, req.maxResponseBytes);
      const body = Buffer.from(JSON.stringify(json));
      return { done: true, result: { kind: 'json', ...served(), contentType: 'application/json', body, json } };
    }

    // A native provider asked for a stream must send one: its JSON is not something the gateway can turn into the format's events.
    if (native && req.stream && verdict === 'success') {
      discard(res);
      return invalid;
    }
    const body = await readCapped(res.body, req.maxResponseBytes);
    if (verdict === 'return' && adapter?.refusesGateway?.(status, body)) {
      // A bad key said as a 400 (Gemini's API_KEY_INVALID): the provider refuses the gateway, as a 401 would.
      return { done: false, outcome: { kind: 'status', status: 401 }, retryAfterMs: null };
    }
    if (verdict === 'return') {
      // The client learns what was wrong with its request, never where the provider lives or its key.
      const error = upstreamErrorInfo(body, status, deps.secrets(), [new URL(provider.origin).hostname]);
      return { done: true, result: { kind: 'error', ...served(), error } };
    }
    // A 2xx must be the JSON the endpoint promises; an HTML page or a cut body is a failed try.
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      return invalid;
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return invalid;
    if (adapter) {
      const chat = adapter.answer(json);
      if (chat === null) return invalid;
      return { done: true, result: { kind: 'json', ...served(), contentType: 'application/json', body: Buffer.from(JSON.stringify(chat)), json: chat } };
    }
    if (req.endpoint === '/embeddings') {
      // In the encoding the client asked for, whatever the provider returned.
      const encoded = inEncoding(json, req.body.encoding_format);
      if (encoded !== null) return { done: true, result: { kind: 'json', ...served(), contentType: 'application/json', body: Buffer.from(JSON.stringify(encoded)), json: encoded } };
    }
    // What was parsed as JSON is sent as JSON, whatever type the upstream named.
    return { done: true, result: { kind: 'json', ...served(), contentType: 'application/json', body, json } };
  } catch (err) {
    res.body.destroy();
    return { done: false, outcome: networkOutcome(err), retryAfterMs: null };
  }
}

/**
 * Reads a stream up to its first data event, within the provider's timeout however many bytes
 * of comments keep arriving (undici's body timeout only bounds silences), and at most
 * MAX_PRELUDE_BYTES of them.
 */
async function openStream(body: ByteSource, timeoutMs: number): Promise<UpstreamStream> {
  const timer = setTimeout(() => {
    body.destroy(Object.assign(new Error('no data event in time'), { code: 'UPSTREAM_FIRST_EVENT_TIMEOUT' }));
  }, timeoutMs);
  try {
    return await UpstreamStream.open(body, MAX_PRELUDE_BYTES);
  } finally {
    clearTimeout(timer);
  }
}

async function readCapped(body: Dispatcher.ResponseData['body'], cap: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) {
      body.destroy();
      throw Object.assign(new Error('response too large'), { code: 'UND_ERR_RES_EXCEEDED_MAX_SIZE' });
    }
    parts.push(chunk);
  }
  return parts.length === 1 && parts[0] ? parts[0] : Buffer.concat(parts, size);
}

/** Reads a small discarded body to the end so the connection is reused, or closes it. */
function discard(res: Dispatcher.ResponseData): void {
  res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
}

const STALE_SOCKET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

function isStaleSocket(o: TryOutcome): boolean {
  return o.kind === 'network' && STALE_SOCKET_CODES.has(o.code);
}

function networkOutcome(err: unknown): TryOutcome {
  const code = (err as { code?: unknown } | null)?.code;
  return { kind: 'network', code: typeof code === 'string' ? code : 'UNKNOWN' };
}

function headerValue(v: string | string[] | undefined): string {
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

/** `Retry-After` as seconds or an HTTP date, in ms; null when absent or unreadable. */
export function parseRetryAfter(value: string, now: number): number | null {
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // Otherwise only an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT` or an obsolete form that starts
  // with a day name): Date.parse alone would read "-5" or "1.5" as dates long past.
  if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /.test(v)) return null;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
