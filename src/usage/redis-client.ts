import { Cluster, Redis } from 'ioredis';

/**
 * `REDIS_URL` in its three shapes, read without connecting:
 * - `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS): one server;
 * - `redis+sentinel://[user:password@]host[:port],host[:port]/<master name>[/db]`: ask these
 *   Sentinels where the master of `<master name>` is, and again after each fail-over;
 * - `redis+cluster://[user:password@]host[:port],host[:port]`: a Redis Cluster, found from these nodes.
 * `rediss+sentinel://` and `rediss+cluster://` speak TLS to the Redis servers. The password
 * (and user) is the Redis servers'; Sentinels that want their own take `?sentinel_password=`.
 */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'sentinel'; sentinels: HostPort[]; name: string; db: number; auth: Auth; sentinelPassword?: string; tls: boolean }
  | { kind: 'cluster'; nodes: HostPort[]; auth: Auth; tls: boolean };

export interface HostPort { host: string; port: number }
interface Auth { username?: string; password?: string }

/** The client the stores use: one server (or a Sentinel's master) or a cluster, same commands. */
export type RedisClient = Redis | Cluster;

const SHAPE = /^(rediss?)\+(sentinel|cluster):\/\/(?:([^@/]*)@)?([^/?#]+)(\/[^?#]*)?(\?[^#]*)?$/;

/** The target named by `url`, or an Error whose message says what is wrong (never the password). */
export function parseRedisUrl(url: string): RedisTarget {
  const u = url.trim();
  if (/^rediss?:\/\//.test(u)) {
    try {
      new URL(u);
    } catch {
      throw new Error('REDIS_URL: not a valid redis:// URL');
    }
    return { kind: 'single', url: u };
  }
  const m = SHAPE.exec(u);
  if (!m) throw new Error('REDIS_URL: expected redis://host:port[/db], redis+sentinel://host:port[,host:port…]/<master name>[/db] or redis+cluster://host:port[,host:port…]');
  const [, scheme, kind, userinfo, hostList, path = '', query = ''] = m;
  const hosts = hostList!.split(',').map((h) => hostPort(h, kind === 'sentinel' ? 26379 : 6379));
  const auth = parseAuth(userinfo);
  const tls = scheme === 'rediss';
  if (kind === 'cluster') {
    if (path !== '' && path !== '/') throw new Error('REDIS_URL: a Redis Cluster has no database number or name (database 0 only)');
    return { kind: 'cluster', nodes: hosts, auth, tls };
  }
  const parts = path.split('/').filter((p) => p !== '').map(decoded);
  if (parts.length === 0 || parts.length > 2) throw new Error('REDIS_URL: redis+sentinel:// needs the master name after the hosts, e.g. redis+sentinel://sentinel:26379/mymaster');
  const db = parts.length === 2 ? Number(parts[1]) : 0;
  if (!Number.isInteger(db) || db < 0 || db > 65535) throw new Error('REDIS_URL: the database after the master name must be a number');
  const sentinelPassword = new URLSearchParams(query.slice(1)).get('sentinel_password') ?? undefined;
  return { kind: 'sentinel', sentinels: hosts, name: parts[0]!, db, auth, tls, ...(sentinelPassword ? { sentinelPassword } : {}) };
}

/** `host[:port]`, the port `fallback` when left out (26379 for a Sentinel, 6379 for a cluster node). */
function hostPort(s: string, fallback: number): HostPort {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(s.trim());
  const port = m?.[2] === undefined ? fallback : Number(m[2]);
  if (!m || !(port > 0 && port < 65536)) throw new Error(`REDIS_URL: "${s.slice(0, 100)}" is not host:port`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** `%`-escapes undone; a broken one is refused without repeating the text (it may be a password). */
function decoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new Error('REDIS_URL: a %-escape in the user, password or master name is broken');
  }
}

function parseAuth(userinfo: string | undefined): Auth {
  if (!userinfo) return {};
  const colon = userinfo.indexOf(':');
  const user = decoded(colon < 0 ? userinfo : userinfo.slice(0, colon));
  const password = colon < 0 ? undefined : decoded(userinfo.slice(colon + 1));
  // `redis://:password@host` has an empty user: the default one.
  if (password === undefined) return { password: user };
  return { ...(user ? { username: user } : {}), ...(password ? { password } : {}) };
}

/**
 * What every connection shares: commands wait in the client's queue while Redis is away (and
 * are sent when it is back), commands issued together go out in one write, and a server that
 * became a replica under a fail-over (READONLY) makes the client reconnect to the new master and
 * send the command again.
 */
const reconnectOnError = (err: Error): 2 | false => (err.message.startsWith('READONLY') ? 2 : false);
const COMMON = { maxRetriesPerRequest: null, enableOfflineQueue: true, enableAutoPipelining: true, reconnectOnError };

/** A client for `target`; it connects at once, in the background. */
export function connectRedis(target: RedisTarget): RedisClient {
  if (target.kind === 'single') return new Redis(target.url, { ...COMMON, lazyConnect: false });
  const tls = target.tls ? { tls: {} } : {};
  if (target.kind === 'sentinel') {
    return new Redis({
      ...COMMON, ...target.auth, ...tls,
      sentinels: target.sentinels, name: target.name, db: target.db,
      ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
      // Sentinels announce the new master as soon as a fail-over is decided: follow at once.
      failoverDetector: true,
    });
  }
  return new Cluster(target.nodes, {
    enableOfflineQueue: true,
    enableAutoPipelining: true,
    redisOptions: { ...target.auth, ...tls, maxRetriesPerRequest: null, reconnectOnError },
  });
}
