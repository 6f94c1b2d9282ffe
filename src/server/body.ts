import type { FastifyInstance } from 'fastify';
import { GatewayError, invalidJson, payloadTooLarge } from '../errors.js';

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
      try {
        done(null, JSON.parse(Buffer.concat(parts, size).toString('utf8')));
      } catch (err) {
        done(err instanceof GatewayError ? err : invalidJson(), undefined);
      }
    });
  });
}
