import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { GatewayError, invalidJson, invalidRequest, payloadTooLarge } from '../errors.js';

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
 * Every request body is read as JSON (the Content-Type was checked before, in `onRequest`),
 * under the configured size limit: a declared length over it is refused before a byte is
 * read, and a body that grows past it as soon as it does.
 */
export function registerBodyParser(app: FastifyInstance, limits: { maxBytes: () => number }): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, payload, done) => {
    const max = limits.maxBytes();
    let finished = false;
    let parts: Buffer[] = [];
    let size = 0;
    // The rest of a refused body is not buffered: the reply closes the connection gracefully (closeGracefully).
    const finish = (err: Error | null, value?: unknown): void => {
      if (finished) return;
      finished = true;
      parts = [];
      done(err, value);
    };
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) return finish(payloadTooLarge(max));
    payload.on('data', (chunk: Buffer) => {
      if (finished) return;
      size += chunk.length;
      if (size > max) return finish(payloadTooLarge(max));
      parts.push(chunk);
    });
    payload.on('error', (err) => finish(err));
    payload.on('end', () => {
      if (finished) return;
      const body = Buffer.concat(parts, size);
      parts = [];
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

/** A request with a body that has not been read to its end. */
export function hasUnreadBody(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
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
