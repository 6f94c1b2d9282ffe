import { once } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ProviderConfig } from '../config/load.js';
import { streamInterrupted } from '../errors.js';
import { Aggregator, readUsage, synthesize, usageChunk, type CompletionKind } from '../stream/convert.js';
import type { ClientFormat, NativePassThrough } from '../protocols/format.js';
import { passNative, relay, translate, type RelayEnd } from '../stream/relay.js';
import { DONE_EVENT, encodeEvent } from '../stream/sse.js';
import { StreamTap } from '../stream/tap.js';
import type { ProxyResult } from '../upstream/proxy.js';
import type { Generated, RequestUsage } from '../usage/accounting.js';
import type { Inflight } from './inflight.js';

type JsonResult = Extract<ProxyResult, { kind: 'json' }>;
type ErrorResult = Extract<ProxyResult, { kind: 'error' }>;
/** Silence after which a format with keep-alive events sends one. */
const PING_MS = 10_000;
type StreamResult = Extract<ProxyResult, { kind: 'stream' }>;

/**
 * Writing a proxied answer to the client. Only bytes are written here: the conversions come
 * from `stream/`, the usage from `usage/accounting.ts`, and accounting always runs after the
 * answer (or its last byte) has been handed to the client.
 */
export interface ReplyContext {
  request: FastifyRequest;
  reply: FastifyReply;
  usage: RequestUsage;
  kind: CompletionKind;
  /** The client asked for usage in its stream (`stream_options.include_usage`). */
  clientWantsUsage: boolean;
  /** The client's format: answers, streams and errors are written in it. */
  format: ClientFormat;
  /** The public model the client asked for, and the id of a translated answer. */
  answer: { model: string; id: string };
  /** The request's metrics and log line (for replies the gateway writes itself). */
  finish(status: number): void;
  inflight: Inflight;
}

function servedHeaders(provider: ProviderConfig, tries: number): Record<string, string> {
  return { 'x-gateway-provider': provider.name, 'x-gateway-tries': String(tries) };
}

function sseHeaders(ctx: ReplyContext, provider: ProviderConfig, tries: number): Record<string, string> {
  return {
    ...(ctx.reply.getHeaders() as Record<string, string>),
    ...servedHeaders(provider, tries),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
  };
}

/** A whole answer, in the client's format; its usage is settled once it is sent (the log line waits for it). */
export function sendJson(ctx: ReplyContext, result: JsonResult): FastifyReply {
  if (result.native && ctx.format.native) return sendNativeJson(ctx, result, ctx.format.native);
  const translated = ctx.format.answer(result.json, ctx.answer);
  const sent = ctx.reply
    .code(result.status)
    .headers(servedHeaders(result.provider, result.attempts.length))
    .header('content-type', 'application/json')
    .send(translated === null ? result.body : JSON.stringify(translated));
  ctx.request.settled = ctx.inflight.track(ctx.usage.settle(result.provider, readUsage(usageOf(result.json)), () => generatedOf(ctx.kind, result.json), result.body.length, true));
  return sent;
}

/** A whole answer in the client's own format (a native provider): the client's model named, usage read from it. */
function sendNativeJson(ctx: ReplyContext, result: JsonResult, native: NativePassThrough): FastifyReply {
  const { body, usage } = native.answer(result.json, ctx.answer);
  const sent = ctx.reply
    .code(result.status)
    .headers(servedHeaders(result.provider, result.attempts.length))
    .header('content-type', 'application/json')
    .send(JSON.stringify(body));
  ctx.request.settled = ctx.inflight.track(ctx.usage.settle(result.provider, usage, () => null, result.body.length, true));
  return sent;
}

/** A provider's client error (scrubbed), with its status, in the client's format: it costs nothing. */
export function sendUpstreamError(ctx: ReplyContext, result: ErrorResult): FastifyReply {
  return ctx.reply
    .code(result.status)
    .headers(servedHeaders(result.provider, result.attempts.length))
    .header('content-type', 'application/json')
    .send(JSON.stringify(ctx.format.error(result.error)));
}

/** A whole answer for a client that asked for a stream: the chunks a streaming provider would have sent. */
export async function sendSynthesized(ctx: ReplyContext, result: JsonResult): Promise<void> {
  const { reply, request } = ctx;
  request.trace.hijacked = true;
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, sseHeaders(ctx, result.provider, result.attempts.length));
  const reported = readUsage(usageOf(result.json));
  const generated = (): Generated => generatedOf(ctx.kind, result.json);
  const t = ctx.format.stream(ctx.answer);
  if (t) {
    // Another format: the chunks a chat stream would have carried, through its translator.
    raw.write(synthesize(ctx.kind, result.json, true).map((c) => t.push(c)).join(''));
    request.trace.firstByteMs = Math.round(performance.now() - request.startedAt);
    raw.end(t.end(reported ? null : await ctx.usage.estimate(generated())));
    await ctx.usage.settle(result.provider, reported, generated, result.body.length, true);
    ctx.finish(200);
    return;
  }
  const chunks = synthesize(ctx.kind, result.json, ctx.clientWantsUsage && reported !== null);
  raw.write(chunks.map((c) => encodeEvent(c)).join(''));
  request.trace.firstByteMs = Math.round(performance.now() - request.startedAt);
  if (ctx.clientWantsUsage && reported === null) {
    // Asked for, not reported: the estimate, computed once the content is on its way.
    const estimate = await ctx.usage.estimate(generated());
    raw.write(encodeEvent(usageChunk(ctx.kind, result.json as Record<string, unknown>, estimate)));
  }
  raw.end(DONE_EVENT);
  await ctx.usage.settle(result.provider, reported, generated, result.body.length, true);
  ctx.finish(200);
}

/**
 * A stream, passed through as the upstream sends it (`stream/relay.ts`): each network chunk's
 * bytes are written as they arrive, and the next is read only once the client has taken the
 * last (backpressure). Past the first byte there is no failover: a break ends the client's
 * stream with an error event and no `[DONE]`, and counts as interrupted.
 */
export async function sendStream(ctx: ReplyContext, result: StreamResult): Promise<void> {
  const { reply, request } = ctx;
  request.trace.hijacked = true;
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(result.status, sseHeaders(ctx, result.provider, result.attempts.length));
  const tap = new StreamTap(ctx.kind, !ctx.clientWantsUsage);
  const watcher = result.native ? ctx.format.native?.stream(ctx.answer) ?? null : null;
  const generated = (): Generated => {
    const text = watcher ? watcher.generatedText() : tap.generatedText();
    return { text, chars: watcher ? text.length : tap.generatedChars() };
  };
  const t = watcher ? null : ctx.format.stream(ctx.answer);
  const bytes: AsyncGenerator<Buffer | string, RelayEnd, undefined> = watcher
    ? passNative(result.stream, watcher)
    : t
    ? translate(result.stream, tap, t, () => ctx.usage.estimate(generated()))
    : relay(result.stream, tap, {
      clientWantsUsage: ctx.clientWantsUsage,
      estimatedUsageEvent: async () => encodeEvent(usageChunk(ctx.kind, tap.head, await ctx.usage.estimate(generated()))),
      errorEvent: () => encodeEvent(streamInterrupted().toJSON()),
    });

  // Formats with keep-alive events (Messages' `ping`) send one after PING_MS of silence.
  let lastWrite = performance.now();
  const pinger = t?.ping ? setInterval(() => {
    if (performance.now() - lastWrite >= PING_MS && !raw.destroyed && t.ping) {
      raw.write(t.ping());
      lastWrite = performance.now();
    }
  }, PING_MS / 2) : null;
  let end: RelayEnd | null = null;
  try {
    while (!raw.destroyed) {
      const next = await bytes.next();
      if (next.done) {
        end = next.value;
        break;
      }
      if (raw.destroyed) break;
      if (request.trace.firstByteMs === null) request.trace.firstByteMs = Math.round(performance.now() - request.startedAt);
      lastWrite = performance.now();
      if (!raw.write(next.value)) await drainOrClose(raw);
    }
  } finally {
    if (pinger) clearInterval(pinger);
  }
  let status = result.status;
  if (end === null) {
    // The client went away: the upstream is cancelled.
    await bytes.return({ error: null });
    request.trace.clientGone = true;
    status = 499;
  } else {
    raw.end();
    if (end.error !== null) {
      request.trace.streamError = end.error;
      status = 502;
    }
  }
  // The provider served the request (it counts), even when the client left before the end.
  await ctx.usage.settle(result.provider, watcher ? watcher.usage : tap.usage, generated, watcher ? watcher.bytes : tap.bytes, end === null || end.error === null);
  ctx.finish(status);
}

/** The client went away before an answer: the provider that was working on it is charged its estimate. */
export async function sendAbandoned(ctx: ReplyContext, provider: ProviderConfig | null): Promise<void> {
  const { request, reply } = ctx;
  request.trace.clientGone = true;
  request.trace.hijacked = true;
  reply.hijack();
  reply.raw.destroy();
  if (provider) {
    request.trace.provider = provider.name;
    await ctx.usage.settle(provider, null, () => null, 0, false);
  }
  ctx.finish(499);
}

function usageOf(json: unknown): unknown {
  return (json as { usage?: unknown } | null)?.usage;
}

function generatedOf(kind: CompletionKind, json: unknown): Generated {
  const agg = new Aggregator(kind);
  agg.add(json);
  const text = agg.generatedText();
  return { text, chars: text.length };
}

async function drainOrClose(raw: FastifyReply['raw']): Promise<void> {
  if (raw.destroyed) return;
  const ac = new AbortController();
  await Promise.race([once(raw, 'drain', { signal: ac.signal }), once(raw, 'close', { signal: ac.signal })]).catch(() => undefined);
  ac.abort();
}
