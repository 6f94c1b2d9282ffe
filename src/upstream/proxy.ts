import type { Dispatcher } from 'undici';
import type { ProviderConfig } from '../config/load.js';
import { preparedLine, type Logger } from '../observability/logger.js';
import type { HealthBook } from '../routing/health.js';
import type { Endpoint } from '../routing/plan.js';
import type { Quota } from '../usage/quota.js';
import { conversionFor, type CompletionKind } from '../stream/convert.js';
import { foldStream, UpstreamStream, type ByteSource } from '../stream/upstream-stream.js';
import { chatProgress, type Progress } from '../stream/first-content.js';
import type { SseEvent } from '../stream/sse.js';
import { classify, describe, type TryOutcome } from './classify.js';
import type { Pools } from './pools.js';
import { upstreamBody, type UpstreamBody } from './request-body.js';
import { Untranslatable } from '../providers/index.js';
import { inEncoding } from './embeddings.js';
import { upstreamPath } from './wire.js';
import type { ClientGone } from './client-gone.js';
import { upstreamErrorInfo } from './sanitize.js';
import { waitFromHeaders, type ProviderWait } from '../routing/provider-says.js';
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
  /** The client left: stop. */
  signal: ClientGone;
  /** Largest non-streamed answer accepted (`_global.max_response_bytes`). */
  maxResponseBytes: number;
  /** No cooldown lasts longer, whatever a provider asks (`_global.max_cooldown_seconds`). */
  maxCooldownMs: number;
  /** When the providers the plan left out (waiting out what they said) can serve again, epoch ms. */
  waiting?: readonly number[];
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
  /** `wait`: how long the provider asked not to be called (its headers or body), if it said. */
  | { done: false; outcome: TryOutcome; wait: ProviderWait | null; beforeAnswer?: boolean };

const invalid: TryResult = { done: false, outcome: { kind: 'invalid' }, wait: null };

export async function proxy(order: readonly ProviderConfig[], req: ProxyRequest, deps: ProxyDeps): Promise<ProxyResult> {
  const attempts: Attempt[] = [];
  const skipped: Skip[] = [];
  const { logger, health } = deps;
  // Every provider so far was rate-limited, over quota or waiting out what it said: when each one can serve again.
  let allRateLimited = true;
  const usableAt: number[] = [...(req.waiting ?? [])];
  // A provider another request is probing goes to the end, once: tried only when nothing else served.
  const queue = [...order];
  const deferred = new Set<ProviderConfig>();
  for (let index = 0; index < queue.length; index++) {
    const provider = queue[index]!;
    const turn = health.beginTry(provider.id, deps.now());
    if (turn === 'busy') {
      const avoided = health.avoid(provider.id, deps.now());
      if (avoided?.hard) {
        usableAt.push(avoided.until);
        continue;
      }
      if (!deferred.has(provider) && index < queue.length - 1) {
        deferred.add(provider);
        queue.push(provider);
        continue;
      }
    }
    const probe = turn === 'probe';
    // Hold a request of the quota before sending, so concurrent requests never overshoot it.
    const held = await deps.quota.hold(provider);
    if (!held.ok) {
      if (probe) health.abandonProbe(provider.id);
      skipped.push({ provider: provider.name, reason: held.reason, resetAt: held.resetAt });
      if (held.reason === 'quota exhausted') usableAt.push(held.resetAt);
      else allRateLimited = false;
      logger.info({ reqId: req.requestId, model: provider.publicModel, provider: provider.name, reason: held.reason },
        `Skipping provider ${provider.name} for ${provider.publicModel}: ${held.reason}`);
      continue;
    }
    const giveUp = (): ProxyResult => {
      deps.quota.release(held.hold);
      if (probe) health.abandonProbe(provider.id);
      return { kind: 'aborted', attempts, provider };
    };
    if (req.signal.aborted) {
      giveUp();
      return { kind: 'aborted', attempts, provider: null };
    }
    preparedLine(logger, 'info', `"reqId":${JSON.stringify(req.requestId)},${selectedFields(provider, probe)}`);
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
      if (probe) health.abandonProbe(provider.id);
      attempts.push({ provider: provider.name, result: 'cannot translate', ms: 0 });
      allRateLimited = false;
      logger.warn({ reqId: req.requestId, model: provider.publicModel, provider: provider.name, reason: err.message },
        `Switching provider for ${provider.publicModel}: ${provider.name} cannot take this request (${err.message})`);
      continue;
    }
    let last: TryOutcome | null = null;
    let wait: ProviderWait | null = null;
    let freshSocketTried = false;
    for (let tryNo = 0; tryNo <= provider.retry; tryNo++) {
      if (tryNo > 0) {
        if (!(await req.signal.sleep(deps.backoffMs(tryNo)))) return giveUp();
      }
      const started = deps.now();
      const r = await tryOnce(provider, native?.endpoint ?? req.endpoint, body, req, deps, attempts, native ? forwarded(native, req) : null);
      if (r.done) {
        const ok = r.result.kind === 'json' || r.result.kind === 'stream';
        if (ok) deps.quota.commit(held.hold);
        else deps.quota.release(held.hold);
        // A client error is the request's fault, not the provider's: it answered.
        if (r.result.kind !== 'failed' && r.result.kind !== 'aborted') health.recordSuccess(provider.id, deps.now() - started);
        else if (probe) health.abandonProbe(provider.id);
        return r.result;
      }
      if (req.signal.aborted) return giveUp();
      // A kept-alive socket the provider closed while idle fails before any byte of an answer:
      // try once more at once on a fresh one, and hold it against nobody.
      if (!freshSocketTried && r.beforeAnswer === true && isStaleSocket(r.outcome)) {
        freshSocketTried = true;
        tryNo--;
        continue;
      }
      attempts.push({ provider: provider.name, result: describe(r.outcome), ms: Math.round(deps.now() - started) });
      last = r.outcome;
      wait = r.wait;
      // A provider that said when it can serve again is not asked again before then.
      if (wait !== null || classify(r.outcome) !== 'retry') break;
    }
    deps.quota.release(held.hold);
    if (!last) continue;
    const why = describe(last);
    const failedAt = deps.now();
    // A rate limit (429), or any refusal that said when to come back, is waited out; other failures cool down as configured.
    const rateLimited = wait !== null || (last.kind === 'status' && last.status === 429);
    const asked = wait !== null ? wait.ms : provider.cooldown_seconds * 1000;
    const cooldownMs = Math.min(asked, req.maxCooldownMs);
    health.recordFailure(provider.id, failedAt, cooldownMs, why, rateLimited ? 'rate_limited' : 'failed', wait?.source ?? (cooldownMs > 0 ? 'cooldown_seconds' : null));
    if (rateLimited) usableAt.push(failedAt + (cooldownMs > 0 ? cooldownMs : Math.min(1000, req.maxCooldownMs)));
    else allRateLimited = false;
    const nextProvider = queue[index + 1];
    logger.warn({ reqId: req.requestId, model: provider.publicModel, provider: provider.name, reason: why, next: nextProvider?.name ?? null,
      ...(rateLimited && cooldownMs > 0 ? { cooldownMs, cooldownSource: wait?.source ?? 'cooldown_seconds' } : {}) },
    nextProvider
      ? `Switching provider for ${provider.publicModel}: ${provider.name} failed (${why}), trying ${nextProvider.name}`
      : `Switching provider for ${provider.publicModel}: ${provider.name} failed (${why}), no provider left`);
  }
  const retryAt = allRateLimited && usableAt.length > 0 ? Math.min(...usableAt) : null;
  return { kind: 'failed', attempts, skipped, retryAt };
}

/** The fields of the `Selected provider` line after the request id: made once per provider (and probe or not). */
const SELECTED = new WeakMap<ProviderConfig, [string, string]>();
function selectedFields(provider: ProviderConfig, probe: boolean): string {
  let f = SELECTED.get(provider);
  if (!f) {
    const common = `"model":${JSON.stringify(provider.publicModel)},"provider":${JSON.stringify(provider.name)},"priority":${JSON.stringify(provider.priority)}`;
    const msg = `,"msg":${JSON.stringify(`Selected provider ${provider.name} for ${provider.publicModel}`)}`;
    f = [common + msg, `${common},"probe":true${msg}`];
    SELECTED.set(provider, f);
  }
  return f[probe ? 1 : 0];
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
  // A stream's wait for its first content, head included (SPEC §9).
  const firstTokenMs = upstream.stream ? provider.first_token_timeout * 1000 : Infinity;
  let res: Dispatcher.ResponseData;
  try {
    res = await deps.pools.get(provider.origin).request({
      method: 'POST',
      path: upstreamPath(provider, endpoint, upstream.stream),
      headers: extraHeaders ? { ...provider.upstreamHeaders, ...extraHeaders } : provider.upstreamHeaders,
      body: payload,
      // The wait for the answer's head, and then the longest silence inside its body: a long
      // stream that keeps sending is never cut.
      headersTimeout: Math.min(timeoutMs, firstTokenMs),
      bodyTimeout: timeoutMs,
      signal: req.signal,
    });
  } catch (err) {
    const outcome = networkOutcome(err);
    // The head did not come within the first-token wait: the stream stalled before its first token.
    if (outcome.kind === 'network' && outcome.code === 'UND_ERR_HEADERS_TIMEOUT' && firstTokenMs <= timeoutMs) return { done: false, outcome: FIRST_TOKEN_TIMEOUT, wait: null };
    return { done: false, outcome, wait: null, beforeAnswer: true };
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
    // Retry-After, x-ratelimit-reset-*, anthropic-ratelimit-*-reset (SPEC §9).
    let wait = waitFromHeaders(status, res.headers, deps.now());
    if (status === 429 && wait === null && adapter?.retryAfterMs) {
      // Some providers (Gemini) say when to come back in the body, not in a header.
      const small = await readCapped(res.body, 64 * 1024).catch(() => null);
      const ms = small ? adapter.retryAfterMs(small) : null;
      if (ms !== null) wait = { ms, source: 'retry-info' };
    } else {
      discard(res);
    }
    return { done: false, outcome: { kind: 'status', status }, wait };
  }

  try {
    if (verdict === 'success' && contentType.includes('text/event-stream')) {
      // A native provider was asked the way the client asked: a stream to a JSON request is no answer.
      if (native && !req.stream) throw Object.assign(new Error('a stream to a JSON request'), { code: 'UPSTREAM_UNEXPECTED_STREAM' });
      // A provider of another kind streams in its own events: read as chat from here on.
      const stream = await openStream(adapter ? adapter.stream(res.body) : res.body, Math.max(1, firstTokenMs - (deps.now() - started)), firstContentOf(native ? req.native ?? null : null));
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
    const body = await readCapped(res.body, req.maxResponseBytes, res.headers['content-length']);
    if (verdict === 'return' && adapter?.refusesGateway?.(status, body)) {
      // A bad key said as a 400 (Gemini's API_KEY_INVALID): the provider refuses the gateway, as a 401 would.
      return { done: false, outcome: { kind: 'status', status: 401 }, wait: null };
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
    return { done: false, outcome: networkOutcome(err), wait: null };
  }
}

/**
 * Reads a stream up to its first content (lifecycle frames held back), within what is left of the
 * first-token wait however many bytes of comments and lifecycle frames keep arriving (undici's
 * body timeout only bounds silences), and at most MAX_PRELUDE_BYTES of them.
 */
async function openStream(body: ByteSource, waitMs: number, progress: (e: SseEvent) => Progress): Promise<UpstreamStream> {
  const timer = setTimeout(() => {
    body.destroy(Object.assign(new Error('no content in time'), { code: FIRST_TOKEN_TIMEOUT.code }));
  }, waitMs);
  try {
    return await UpstreamStream.open(body, MAX_PRELUDE_BYTES, progress);
  } finally {
    clearTimeout(timer);
  }
}

/** How a stream's first content is told from its lifecycle frames: by the client's format when the provider speaks it, else as chat. */
function firstContentOf(native: NativePassThrough | null): (e: SseEvent) => Progress {
  return native ? (e) => native.progress(e.event, e.data) : chatProgress;
}

const FIRST_TOKEN_TIMEOUT = { kind: 'network', code: 'UPSTREAM_FIRST_TOKEN_TIMEOUT' } as const;

/**
 * The whole body, at most `cap` bytes. A body that announced its length within the cap is read
 * at once (undici checks it sends no more than it announced); any other is counted as it comes.
 */
async function readCapped(body: Dispatcher.ResponseData['body'], cap: number, announced?: string | string[]): Promise<Buffer> {
  const length = typeof announced === 'string' ? Number(announced) : NaN;
  if (Number.isSafeInteger(length) && length >= 0 && length <= cap) {
    const bytes = await body.bytes();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
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
