import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { answerSoon } from './redis-answer.js';
import { RedisResponses } from './redis-responses.js';
import { StoreUnavailableError, type Counters, type Limits, type PeriodRef, type ReserveResult, type UsageStore } from './store.js';

/** Kept this long past a period's end, for the stats of the previous period. */
const KEEP_AFTER_END_MS = 7 * 24 * 3600 * 1000;

/**
 * Check and hold in one step. Holds are a sorted set scored by their expiry (Redis' own clock,
 * so instances with skewed clocks agree), so the hold of an instance that died frees itself.
 * Returns 0 held, 1 requests used up, 2 tokens used up.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local used = tonumber(redis.call('HGET', KEYS[1], 'requests') or '0')
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or '0')
local held = redis.call('ZCARD', KEYS[2])
local limitRequests = tonumber(ARGV[1])
local limitTokens = tonumber(ARGV[2])
if limitRequests >= 0 and used + held >= limitRequests then return 1 end
if limitTokens >= 0 and tokens >= limitTokens then return 2 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 0
`;

/** Counts a success and drops its hold, in one step so the request is never counted twice or not at all. */
const COMMIT = `
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[2], ARGV[1]) end
redis.call('HINCRBY', KEYS[1], 'requests', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
`;

type Commands = Redis & {
  gwReserve(usage: string, holds: string, limitRequests: number, limitTokens: number, holdMs: number, token: string, ttlMs: number): Promise<number>;
  gwCommit(usage: string, holds: string, token: string, ttlMs: number): Promise<number>;
};

/**
 * The shared store: counters in Redis, so several gateway instances share exact quotas and show
 * the same stats. Writes issued while Redis is away wait in the client's queue and are sent
 * when it is back; reservations do not wait (a provider with a quota is skipped meanwhile).
 */
export class RedisStore implements UsageStore {
  readonly kind = 'redis';
  readonly responses: RedisResponses;
  private readonly redis: Commands;

  constructor(url: string, private readonly prefix = 'aigw:') {
    const redis = new Redis(url, { maxRetriesPerRequest: null, enableOfflineQueue: true, lazyConnect: false });
    redis.defineCommand('gwReserve', { numberOfKeys: 2, lua: RESERVE });
    redis.defineCommand('gwCommit', { numberOfKeys: 2, lua: COMMIT });
    // Connection errors are reported through healthy(); without a listener ioredis would print them.
    redis.on('error', () => undefined);
    this.redis = redis as Commands;
    this.responses = new RedisResponses(redis, prefix);
  }

  /** Resolves once connected, or rejects after `ms`. */
  async ready(ms = 5000): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new StoreUnavailableError('redis is not reachable')), ms);
      this.redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async reserve(ref: PeriodRef, limits: Limits, holdMs: number): Promise<ReserveResult> {
    if (this.redis.status !== 'ready') throw new StoreUnavailableError('redis is not connected');
    const token = randomUUID();
    const [usage, holds] = this.keys(ref);
    const r = await answerSoon(this.redis.gwReserve(usage, holds, limits.requests ?? -1, limits.tokens ?? -1, holdMs, token, this.ttl(ref)));
    if (r === 1) return { ok: false, exhausted: 'requests' };
    if (r === 2) return { ok: false, exhausted: 'tokens' };
    return { ok: true, token };
  }

  async commit(ref: PeriodRef, token: string | null): Promise<void> {
    const [usage, holds] = this.keys(ref);
    await this.redis.gwCommit(usage, holds, token ?? '', this.ttl(ref));
  }

  async release(ref: PeriodRef, token: string): Promise<void> {
    await this.redis.zrem(this.keys(ref)[1], token);
  }

  async addTokens(ref: PeriodRef, tokens: number, estimated: boolean): Promise<void> {
    const [usage] = this.keys(ref);
    const m = this.redis.multi().hincrby(usage, 'tokens', tokens);
    if (estimated) m.hincrby(usage, 'estimated', tokens);
    await m.pexpire(usage, this.ttl(ref)).exec();
  }

  async read(refs: readonly PeriodRef[]): Promise<Counters[]> {
    if (refs.length === 0) return [];
    if (this.redis.status !== 'ready') throw new StoreUnavailableError('redis is not connected');
    const p = this.redis.pipeline();
    for (const ref of refs) p.hmget(this.keys(ref)[0], 'requests', 'tokens', 'estimated');
    const results = (await answerSoon(p.exec())) ?? [];
    return results.map(([err, value]) => {
      if (err) throw err;
      const [requests, tokens, estimated] = (value as Array<string | null>).map((v) => Number(v ?? 0));
      return { requests: requests ?? 0, tokens: tokens ?? 0, estimatedTokens: estimated ?? 0 };
    });
  }

  /**
   * Refused at once while Redis is away. A reset that times out may still be applied when Redis
   * answers; the caller is told it failed, and repeating it is harmless.
   */
  async reset(refs: readonly PeriodRef[]): Promise<void> {
    if (refs.length === 0) return;
    if (this.redis.status !== 'ready') throw new StoreUnavailableError('redis is not connected');
    await answerSoon(this.redis.del(...refs.map((ref) => this.keys(ref)[0])));
  }

  async healthy(): Promise<boolean> {
    if (this.redis.status !== 'ready') return false;
    try {
      let timer: NodeJS.Timeout | undefined;
      const pong = await Promise.race([
        this.redis.ping(),
        new Promise<string>((resolve) => (timer = setTimeout(() => resolve('timeout'), 1000))),
      ]);
      clearTimeout(timer);
      return pong === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.redis.status === 'ready') {
      // A frozen Redis must not hold a shutdown forever: what it has not taken in 2 s is dropped.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2000);
      });
      await Promise.race([this.redis.quit().catch(() => undefined), late]);
      clearTimeout(timer);
      this.redis.disconnect();
    } else {
      this.redis.disconnect();
    }
  }

  /** Both keys of a period share the provider's hash tag, so they live on one Redis Cluster slot. */
  private keys(ref: PeriodRef): [string, string] {
    const base = `${this.prefix}{${hashTag(ref.providerId)}}:${ref.start}`;
    return [`${base}:usage`, `${base}:holds`];
  }

  private ttl(ref: PeriodRef): number {
    return Math.max(60_000, ref.end - Date.now() + KEEP_AFTER_END_MS);
  }
}

/**
 * A provider id made safe inside a Redis Cluster hash tag, which ends at the first `}` (and is
 * ignored when empty, which would split a provider's keys over two slots): `{` and `}` are
 * percent-encoded. Ids already encode `%`, so this stays one-to-one; ids without braces are
 * unchanged, and so are their keys.
 */
function hashTag(providerId: string): string {
  return providerId.replace(/[{}]/g, (c) => (c === '{' ? '%7B' : '%7D'));
}
