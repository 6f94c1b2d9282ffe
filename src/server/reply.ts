import { once } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayState } from '../app.js';
import type { ProviderConfig } from '../config/load.js';
import { Aggregator, readUsage, synthesize, type CompletionKind, type Usage } from '../stream/convert.js';
import { DONE_EVENT, encodeEvent } from '../stream/sse.js';
import { StreamTap } from '../stream/tap.js';
import type { ProxyResult } from '../upstream/proxy.js';
import { estimateTokens, loadTokenizer, promptTokens } from '../usage/tokens.js';

type JsonResult = Extract<ProxyResult, { kind: 'json' }>;
type StreamResult = Extract<ProxyResult, { kind: 'stream' }>;

export interface ReplyContext {
  request: FastifyRequest;
  reply: FastifyReply;
  state: GatewayState;
  kind: CompletionKind;
  body: Readonly<Record<string, unknown>>;
  /** The client asked for usage in its stream (`stream_options.include_usage`). */
  clientWantsUsage: boolean;
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

/** A whole answer, relayed byte for byte with its status; a success's usage is accounted. */
export async function sendJson(ctx: ReplyContext, result: JsonResult): Promise<FastifyReply> {
  if (result.status < 300) await accountAnswer(ctx, result.provider, result.json);
  return ctx.reply
    .code(result.status)
    .headers(servedHeaders(result.provider, result.attempts.length))
    .header('content-type', result.contentType || 'application/json')
    .send(result.body);
}

/** A whole answer for a client that asked for a stream: the chunks a streaming provider would have sent. */
export async function sendSynthesized(ctx: ReplyContext, result: JsonResult): Promise<void> {
  await accountAnswer(ctx, result.provider, result.json);
  const { reply, request } = ctx;
  request.trace.hijacked = true;
  reply.hijack();
  reply.raw.writeHead(200, sseHeaders(ctx, result.provider, result.attempts.length));
  const chunks = synthesize(ctx.kind, result.json, ctx.clientWantsUsage);
  reply.raw.end(chunks.map((c) => encodeEvent(c)).join('') + DONE_EVENT);
  request.trace.firstByteMs = Math.round(performance.now() - request.startedAt);
  ctx.state.finishRequest(request, 200);
}

/**
 * A stream, passed through as the upstream sends it: each event's bytes are written as they
 * arrive, and the next chunk is read only once the client has taken the last (backpressure).
 * Only the usage chunk the gateway asked for on the client's behalf is held back.
 * Past the first byte there is no failover: a break ends the client's stream with an SSE
 * error event and no `[DONE]`, so the client can tell the answer is incomplete.
 */
export async function sendStream(ctx: ReplyContext, result: StreamResult): Promise<void> {
  const { reply, request, state } = ctx;
  request.trace.hijacked = true;
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(result.status, sseHeaders(ctx, result.provider, result.attempts.length));
  const tap = new StreamTap(ctx.kind, !ctx.clientWantsUsage);
  const write = async (events: typeof result.events): Promise<void> => {
    const out = events.filter((e) => tap.forward(e)).map((e) => e.raw);
    if (out.length === 0 || raw.destroyed) return;
    if (request.trace.firstByteMs === null) request.trace.firstByteMs = Math.round(performance.now() - request.startedAt);
    if (!raw.write(out.length === 1 ? out[0]! : Buffer.concat(out))) await drainOrClose(raw);
  };

  let status = result.status;
  try {
    await write(result.events);
    while (!raw.destroyed) {
      const next = await result.rest.next();
      if (next.done) {
        await write(result.decoder.end());
        break;
      }
      await write(result.decoder.push(next.value));
    }
    if (raw.destroyed) {
      result.cancel();
      request.trace.clientGone = true;
      status = 499;
    } else {
      raw.end();
    }
  } catch (err) {
    result.cancel();
    if (raw.destroyed) {
      request.trace.clientGone = true;
      status = 499;
    } else {
      const code = (err as { code?: string }).code ?? 'stream error';
      request.trace.streamError = code;
      raw.end(encodeEvent({
        error: {
          message: 'The upstream provider broke off the stream; the answer is incomplete.',
          type: 'upstream_error', param: null, code: 'stream_interrupted',
        },
      }));
      status = 502;
    }
  }
  await account(ctx, result.provider, tap.usage, () => tap.generatedText(), true);
  state.finishRequest(request, status);
}

/** Usage of a provider that was working on the request when the client went away. */
export function accountAbandoned(ctx: ReplyContext, provider: ProviderConfig): Promise<void> {
  return account(ctx, provider, null, () => '', false);
}

function accountAnswer(ctx: ReplyContext, provider: ProviderConfig, json: unknown): Promise<void> {
  const usage = readUsage((json as { usage?: unknown } | null)?.usage);
  return account(ctx, provider, usage, () => {
    const agg = new Aggregator(ctx.kind);
    agg.add(json);
    return agg.generatedText();
  }, true);
}

/** Hands one request's usage on a provider to the usage sink and the request log: reported, or estimated (never 0). */
async function account(ctx: ReplyContext, provider: ProviderConfig, reported: Usage | null, generated: () => string, success: boolean): Promise<void> {
  let usage = reported;
  const estimated = usage === null;
  if (!usage) {
    await loadTokenizer();
    const prompt = promptTokens(ctx.body);
    const completion = estimateTokens(generated());
    usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  }
  const trace = ctx.request.trace;
  trace.tokens = usage.total_tokens;
  trace.promptTokens = usage.prompt_tokens;
  trace.completionTokens = usage.completion_tokens;
  trace.tokensEstimated = estimated;
  ctx.state.usage.record({
    providerId: provider.id,
    model: provider.publicModel,
    provider: provider.name,
    success,
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    totalTokens: usage.total_tokens,
    estimated,
  });
}

async function drainOrClose(raw: FastifyReply['raw']): Promise<void> {
  const ac = new AbortController();
  await Promise.race([once(raw, 'drain', { signal: ac.signal }), once(raw, 'close', { signal: ac.signal })]).catch(() => undefined);
  ac.abort();
}
