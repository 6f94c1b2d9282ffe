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
  return timingSafeEqual(a, digestOf(expected));
}

/** The digest of the configured key, computed once per key (there are one or two: api_key, admin_key). */
const expectedDigests = new Map<string, Buffer>();

function digestOf(expected: string): Buffer {
  let d = expectedDigests.get(expected);
  if (!d) {
    if (expectedDigests.size >= 8) expectedDigests.clear();
    d = createHash('sha256').update(expected).digest();
    expectedDigests.set(expected, d);
  }
  return d;
}

/**
 * A request that a browser sent on behalf of another site: a form post or script on a page of
 * another origin (with no key set, such a page could otherwise reset usage or reload the
 * configuration). Browsers say so in `Sec-Fetch-Site`, which pages cannot set; browsers too old
 * for it are judged by `Origin` against the request's own `Host` (or `X-Forwarded-Host`, which
 * a page cannot set either without a CORS preflight the gateway never grants). A request with
 * neither header comes from no browser page and is not one of these.
 */
export function isCrossSite(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string') return site !== 'same-origin' && site !== 'none';
  const origin = request.headers.origin;
  if (origin === undefined) return false;
  let scheme: string;
  let host: string;
  try {
    ({ protocol: scheme, host } = new URL(origin));
  } catch {
    return true; // `null` (a sandboxed or opaque origin) or garbage
  }
  const forwarded = request.headers['x-forwarded-host'];
  const own = [request.headers.host, typeof forwarded === 'string' ? forwarded.split(',')[0]?.trim() : undefined];
  return !own.some((h) => h !== undefined && h !== '' && sameHost(scheme, h, host));
}

/** `localhost:80` is `localhost` for http: both sides normalized the way URL does. */
function sameHost(scheme: string, hostHeader: string, originHost: string): boolean {
  try {
    return new URL(`${scheme}//${hostHeader}`).host === originHost;
  } catch {
    return false;
  }
}
