import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { bodiesBusy, GatewayError, invalidJson, invalidRequest, payloadTooLarge } from '../errors.js';

/** No OpenAI request nests this deep; a body that does would exhaust the stack when re-serialized. */
const MAX_DEPTH = 64;

/**
 * After refusing a request whose body is still coming, how long and how many more bytes the
 * gateway reads (and drops) before it cuts the connection.
 */
export const LINGER_MS = 2000;
export const LINGER_BYTES = 8 * 1024 * 1024;

/**
 * The deepest nesting of `[` and `{` outside strings, counted over the raw bytes in one pass
 * with no allocation: a 100,000-level body is refused before it is parsed at all.
 */
export function nestingDepth(body: Buffer): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/**
 * The bytes of request bodies being received and parsed at once, across all requests: each
 * body holds its declared Content-Length from its first moment (or, chunked, what has
 * arrived), until it is parsed, refused or its connection closes.
 */
export class BodyBudget {
  private used = 0;

  constructor(private readonly max: () => number) {}

  get inFlight(): number {
    return this.used;
  }

  take(bytes: number): boolean {
    if (this.used + bytes > this.max()) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }
}

/**
 * Every request body is read as JSON (its Content-Type was checked in `onRequest`: acceptableBodyType),
 * under the configured size limit and the global budget: a declared length over either is
 * refused before a byte is read, and a body that grows past them as soon as it does. A body
 * is held once in memory while it arrives (its declared length allocated at the first byte,
 * or the chunks of a chunked body, dropped as soon as they are joined).
 */
export function registerBodyParser(app: FastifyInstance, limits: { maxBytes: () => number; budget: BodyBudget }): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, payload, done) => {
    const max = limits.maxBytes();
    let held = 0;
    let finished = false;
    let buffer: Buffer | null = null;
    let parts: Buffer[] = [];
    let size = 0;
    const take = (bytes: number): boolean => {
      if (!limits.budget.take(bytes)) return false;
      held += bytes;
      return true;
    };
    const release = (): void => {
      limits.budget.give(held);
      held = 0;
      buffer = null;
      parts = [];
    };
    // The rest of a refused body is not buffered: the reply closes the connection gracefully (closeGracefully).
    const finish = (err: Error | null, value?: unknown): void => {
      if (finished) return;
      finished = true;
      release();
      done(err, value);
    };
    payload.once('close', () => {
      if (!finished) {
        finished = true;
        release();
      }
    });
    const header = request.headers['content-length'];
    const declared = header === undefined ? null : Number(header);
    if (declared !== null && declared > max) return finish(payloadTooLarge(max));
    if (declared !== null && !take(declared)) return finish(bodiesBusy());
    payload.on('data', (chunk: Buffer) => {
      if (finished) return;
      size += chunk.length;
      if (size > max) return finish(payloadTooLarge(max));
      if (declared === null) {
        if (!take(chunk.length)) return finish(bodiesBusy());
        parts.push(chunk);
        return;
      }
      buffer ??= Buffer.allocUnsafe(declared);
      chunk.copy(buffer, size - chunk.length);
    });
    payload.on('error', (err) => finish(err));
    payload.on('end', () => {
      if (finished) return;
      const body = declared === null ? Buffer.concat(parts, size) : (buffer ?? Buffer.alloc(0)).subarray(0, size);
      parts = [];
      buffer = null;
      if (nestingDepth(body) > MAX_DEPTH) return finish(invalidRequest(`The request body is nested more than ${MAX_DEPTH} levels deep.`));
      let value: unknown;
      try {
        value = JSON.parse(body.toString('utf8'));
      } catch (err) {
        return finish(err instanceof GatewayError ? err : invalidJson());
      }
      finish(null, value);
    });
  });
}

/** `application/json` or `application/<anything>+json`, with or without parameters such as `charset`. */
const JSON_TYPE = /^\s*application\/(?:[\w.!#$&^-]+\+)?json\s*(?:;|$)/i;

/**
 * Whether a request may carry the body it has: JSON only (a form or `text/plain` post is what
 * a page of another site can send without the browser asking first), and a request without a
 * body may omit the Content-Type.
 */
export function acceptableBodyType(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  if (type !== undefined) return JSON_TYPE.test(type);
  return !hasBody(req);
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** A request with a body that has not been read to its end. */
export function hasUnreadBody(req: IncomingMessage): boolean {
  return !req.complete && hasBody(req);
}

/**
 * Answers a request whose body is still coming (refused before or while it arrives) and then
 * closes its connection the way nginx's lingering close does: the answer says
 * `Connection: close`, the gateway half-closes its side once the answer is out, and reads
 * and drops what the client still sends (at most LINGER_BYTES, for at most LINGER_MS) before
 * closing the socket.
 *
 * Node's own choices are both wrong here. Without `Connection: close` it reads the whole body
 * (`req._dump()`) to keep the connection alive: 100 MiB after a 401. With it, it closes the
 * socket (`socket.destroySoon()`) as soon as the answer is flushed while the client is still
 * sending, so the client's kernel gets a reset: its write fails (EPIPE) and a client that
 * reads the answer only after sending its body (curl, most HTTP libraries) never sees it.
 */
export function closeGracefully(req: IncomingMessage, reply: FastifyReply, lingering: Set<Socket>): void {
  const socket = req.socket;
  reply.header('connection', 'close');
  if (socket.destroyed || lingering.has(socket)) return;
  lingering.add(socket);
  const cut = (): void => {
    socket.destroy();
  };
  const timer = setTimeout(cut, LINGER_MS);
  socket.once('close', () => {
    clearTimeout(timer);
    lingering.delete(socket);
  });
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) cut();
  });
  req.resume();
  let answered = false;
  let received = false;
  // Node calls destroySoon() once a `Connection: close` answer is flushed: half-close instead,
  // and close for good once the client has sent its whole body too (or LINGER_* runs out).
  socket.destroySoon = (): void => {
    answered = true;
    if (received) Socket.prototype.destroySoon.call(socket);
    else socket.end();
  };
  req.once('end', () => {
    received = true;
    if (answered) Socket.prototype.destroySoon.call(socket);
  });
}
