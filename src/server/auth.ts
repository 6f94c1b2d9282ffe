import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

/** Which key guards a route: none (`/health`), the admin key (`/admin/*`, `/metrics`) or the gateway key. */
export type Guard = 'open' | 'admin' | 'api';

export function guardFor(routeUrl: string | undefined): Guard {
  // The dashboard's page and assets hold no data: the page asks for the key and sends it.
  if (routeUrl === '/health' || routeUrl === '/admin/ui' || routeUrl?.startsWith('/admin/ui/')) return 'open';
  if (routeUrl !== undefined && (routeUrl.startsWith('/admin') || routeUrl === '/metrics')) return 'admin';
  // Unknown paths need the key too, so that they reveal nothing about what exists.
  return 'api';
}

/** The key a request presents: `Authorization: Bearer <key>` or `x-api-key`; never the query string. */
export function presentedKey(request: FastifyRequest): string | null {
  const auth = request.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m?.[1]) return m[1].trim();
  }
  const x = request.headers['x-api-key'];
  return typeof x === 'string' && x.length > 0 ? x.trim() : null;
}

/** Constant-time comparison: both sides are hashed first, so neither length nor content leaks through timing. */
export function keyMatches(presented: string | null, expected: string): boolean {
  if (presented === null) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
