import type { FastifyInstance } from 'fastify';
import { GatewayError, invalidJson, invalidRequest, payloadTooLarge } from '../errors.js';

/** No OpenAI request nests this deep; a body that does would exhaust the stack when re-serialized. */
const MAX_DEPTH = 64;

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
 * Every request body is read as JSON whatever its Content-Type (clients are lax about it),
 * under the configured size limit: a declared length over the limit is refused before a byte
 * is read, and a body that grows past it is refused as soon as it does.
 */
export function registerBodyParser(app: FastifyInstance, limit: () => number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, payload, done) => {
    const max = limit();
    const tooLarge = (): void => {
      payload.pause();
      done(payloadTooLarge(max), undefined);
    };
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) return tooLarge();
    const parts: Buffer[] = [];
    let size = 0;
    let finished = false;
    payload.on('data', (chunk: Buffer) => {
      if (finished) return;
      size += chunk.length;
      if (size > max) {
        finished = true;
        tooLarge();
        return;
      }
      parts.push(chunk);
    });
    payload.on('error', (err) => {
      if (finished) return;
      finished = true;
      done(err, undefined);
    });
    payload.on('end', () => {
      if (finished) return;
      finished = true;
      const body = Buffer.concat(parts, size);
      if (nestingDepth(body) > MAX_DEPTH) {
        done(invalidRequest(`The request body is nested more than ${MAX_DEPTH} levels deep.`), undefined);
        return;
      }
      try {
        done(null, JSON.parse(body.toString('utf8')));
      } catch (err) {
        done(err instanceof GatewayError ? err : invalidJson(), undefined);
      }
    });
  });
}
