import { once } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayState } from '../app.js';
import type { ProxyResult } from '../upstream/proxy.js';

type JsonResult = Extract<ProxyResult, { kind: 'json' }>;
type StreamResult = Extract<ProxyResult, { kind: 'stream' }>;

function servedHeaders(result: JsonResult | StreamResult): Record<string, string> {
  return { 'x-gateway-provider': result.provider.name, 'x-gateway-tries': String(result.attempts.length) };
}

/** A whole answer, relayed byte for byte with its status. */
export function sendJsonResult(reply: FastifyReply, result: JsonResult): FastifyReply {
  return reply
    .code(result.status)
    .headers(servedHeaders(result))
    .header('content-type', result.contentType || 'application/json')
    .send(result.body);
}

/**
 * A stream, passed through as the upstream sends it: each chunk is written the moment it
 * arrives, and the next is read only once the client has taken the last (backpressure).
 * Past the first byte there is no failover: a break ends the client's stream with an SSE
 * error event and no `[DONE]`, so the client can tell the answer is incomplete.
 */
export async function sendStreamResult(request: FastifyRequest, reply: FastifyReply, result: StreamResult, state: GatewayState): Promise<void> {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(result.status, {
    ...(reply.getHeaders() as Record<string, string>),
    ...servedHeaders(result),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
  });
  let status = result.status;
  try {
    let chunk: Buffer | undefined = result.first;
    while (chunk) {
      if (raw.destroyed) break;
      if (!raw.write(chunk)) await drainOrClose(raw);
      const next: IteratorResult<Buffer> = await result.rest.next();
      chunk = next.done ? undefined : next.value;
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
      state.logRequest(request, 499);
      return;
    }
    request.trace.streamError = (err as { code?: string }).code ?? 'stream error';
    {
      const event = {
        error: {
          message: `The upstream provider broke off the stream (${request.trace.streamError}); the answer is incomplete.`,
          type: 'upstream_error', param: null, code: 'stream_interrupted',
        },
      };
      raw.end(`data: ${JSON.stringify(event)}\n\n`);
    }
    status = 502;
  }
  state.logRequest(request, status);
}

async function drainOrClose(raw: FastifyReply['raw']): Promise<void> {
  const ac = new AbortController();
  await Promise.race([once(raw, 'drain', { signal: ac.signal }), once(raw, 'close', { signal: ac.signal })]).catch(() => undefined);
  ac.abort();
}
