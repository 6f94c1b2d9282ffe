import { randomUUID } from 'node:crypto';
import { RedisKeyRecords } from './key-records.js';
import { answerSoon } from './redis-answer.js';
import { RedisResponses } from './redis-responses.js';
import { RedisPins } from './pins.js';
import { connectRedis, parseRedisUrl, type RedisClient } from './redis-client.js';
import { StoreUnavailableError, type Counters, type Limits, type PeriodRef, type ReserveResult, type UsageStore } from './store.js';

/** How often the slots of requests in flight are renewed (their hold is longer). */
const SLOT_REFRESH_MS = 20_000;

/** Kept this long past a period's end, for the stats of the previous period. */
const KEEP_AFTER_END_MS = 7 * 24 * 3600 * 1000;

/**
 * Check and hold in one step. Holds are a sorted set scored by their expiry (Redis' own clock,
 * so instances with skewed clocks agree), so the hold of an instance that died frees itself.
 * Returns 0 held, 1 requests used up, 2 tokens used up, 3 cost used up.
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
local limitCost = tonumber(ARGV[6])
if limitRequests >= 0 and used + held >= limitRequests then return 1 end
if limitTokens >= 0 and tokens >= limitTokens then return 2 end
if limitCost >= 0 and tonumber(redis.call('HGET', KEYS[1], 'cost') or '0') >= limitCost then return 3 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 0
`;

/**
 * Settles a batch of finished requests of one period in one step: drops their holds (ARGV[7..]),
 * counts ARGV[2] successes and adds tokens, estimated tokens, cost and unpriced requests, so a
 * request is never counted twice or not at all. ARGV[1] the counters' time to live.
 */
const SETTLE = `
for i = 7, #ARGV do redis.call('ZREM', KEYS[2], ARGV[i]) end
local fields = { 'requests', 'tokens', 'estimated', 'cost', 'unpriced' }
local changed = false
for i = 1, 5 do
  local n = tonumber(ARGV[i + 1])
  if n ~= 0 then
    redis.call('HINCRBY', KEYS[1], fields[i], n)
    changed = true
  end
end
if changed then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 0
`;

/** Takes a slot when fewer than ARGV[1] live ones are held (scored by expiry, like holds). 1 taken, 0 full. */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1
`;

/** Keeps the slots of requests still in flight: ARGV[1] the hold, then tokens; only slots still there. */
const REFRESH = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return 0
`;

type Commands = RedisClient & {
  gwReserve(usage: string, holds: string, limitRequests: number, limitTokens: number, holdMs: number, token: string, ttlMs: number, limitCost: number): Promise<number>;
  gwSettle(usage: string, holds: string, ttlMs: number, requests: number, tokens: number, estimated: number, cost: number, unpriced: number, ...dropHolds: string[]): Promise<number>;
  gwAcquire(slots: string, max: number, holdMs: number, token: string): Promise<number>;
  gwRefresh(slots: string, holdMs: number, ...tokens: string[]): Promise<number>;
};

/** What the requests of one period that finished in this turn of the event loop add up to. */
interface Pending {
  holds: string;
  ttlMs: number;
  /** requests, tokens, estimated, cost, unpriced */
  add: [number, number, number, number, number];
  /** Holds to drop: of requests counted (in `add`) or given back. */
  drop: string[];
  settled: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * The shared store: counters in Redis, so several gateway instances share exact quotas and show
 * the same stats. One round trip per request on the way in (the reserve script); what requests
 * add when they finish (a success, tokens, cost, a hold given back) is summed per period and
 * sent once per turn of the event loop, one script per period. Writes issued while Redis is away
 * wait in the client's queue and are sent when it is back; reservations do not wait (a provider
 * with a quota is skipped meanwhile). `url` is any REDIS_URL: one server, Sentinel or Cluster.
 */
export class RedisStore implements UsageStore {
  readonly kind = 'redis';
  readonly responses: RedisResponses;
  readonly keys: RedisKeyRecords;
  readonly pins: RedisPins;
  private readonly redis: Commands;
  /** Slots this instance holds, by Redis key, with their hold: refreshed while they live. */
  private readonly slots = new Map<string, { holdMs: number; tokens: Set<string> }>();
  private readonly refresher: NodeJS.Timeout;
  /** Settles waiting to be sent, by usage key; null when none. */
  private pending: Map<string, Pending> | null = null;

  /** `slotRefreshMs`: how often live slots are renewed (tests make it short). */
  constructor(url: string, private readonly prefix = 'aigw:', opts: { slotRefreshMs?: number } = {}) {
    const redis = connectRedis(parseRedisUrl(url));
    redis.defineCommand('gwReserve', { numberOfKeys: 2, lua: RESERVE });
    redis.defineCommand('gwSettle', { numberOfKeys: 2, lua: SETTLE });
    redis.defineCommand('gwAcquire', { numberOfKeys: 1, lua: ACQUIRE });
    redis.defineCommand('gwRefresh', { numberOfKeys: 1, lua: REFRESH });
    // Connection errors are reported through healthy(); without a listener ioredis would print them.
    redis.on('error', () => undefined);
    this.redis = redis as Commands;
    this.responses = new RedisResponses(redis, prefix);
    this.keys = new RedisKeyRecords(redis, prefix);
    this.pins = new RedisPins(redis, prefix);
    // A stream may last longer than a slot's hold: the slots of live requests are renewed.
    this.refresher = setInterval(() => this.refreshSlots(), opts.slotRefreshMs ?? SLOT_REFRESH_MS);
    this.refresher.unref();
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
    const [usage, holds] = this.refKeys(ref);
    const r = await answerSoon(this.redis.gwReserve(usage, holds, limits.requests ?? -1, limits.tokens ?? -1, holdMs, token, this.ttl(ref), limits.cost ?? -1));
    if (r === 1) return { ok: false, exhausted: 'requests' };
    if (r === 2) return { ok: false, exhausted: 'tokens' };
    if (r === 3) return { ok: false, exhausted: 'cost' };
    return { ok: true, token };
  }

  commit(ref: PeriodRef, token: string | null): Promise<void> {
    const p = this.settle(ref);
    p.add[0] += 1;
    if (token !== null) p.drop.push(token);
    return p.settled;
  }

  release(ref: PeriodRef, token: string): Promise<void> {
    const p = this.settle(ref);
    p.drop.push(token);
    return p.settled;
  }

  addTokens(ref: PeriodRef, tokens: number, estimated: boolean, cost?: number | null): Promise<void> {
    const p = this.settle(ref);
    p.add[1] += tokens;
    if (estimated) p.add[2] += tokens;
    if (cost === null) p.add[4] += 1;
    else if (cost !== undefined && cost > 0) p.add[3] += cost;
    return p.settled;
  }

  /** The batch entry of `ref`'s period, sent at the end of this turn of the event loop. */
  private settle(ref: PeriodRef): Pending {
    if (this.pending === null) {
      this.pending = new Map();
      setImmediate(() => this.flush());
    }
    const [usage, holds] = this.refKeys(ref);
    let p = this.pending.get(usage);
    if (!p) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const settled = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      p = { holds, ttlMs: this.ttl(ref), add: [0, 0, 0, 0, 0], drop: [], settled, resolve, reject };
      this.pending.set(usage, p);
    }
    return p;
  }

  /** Sends what is pending: one script per period, all in one write (auto-pipelined). Resolves when Redis took them. */
  private flush(): Promise<unknown> {
    const batch = this.pending;
    this.pending = null;
    if (batch === null) return Promise.resolve();
    const sent: Array<Promise<unknown>> = [];
    for (const [usage, p] of batch) {
      sent.push(this.redis.gwSettle(usage, p.holds, p.ttlMs, ...p.add, ...p.drop).then(() => p.resolve(), p.reject));
    }
    return Promise.all(sent);
  }

  async acquireSlot(name: string, max: number, holdMs: number): Promise<string | null> {
    if (this.redis.status !== 'ready') throw new StoreUnavailableError('redis is not connected');
    const key = this.slotKey(name);
    const token = randomUUID();
    if (await answerSoon(this.redis.gwAcquire(key, max, holdMs, token)) !== 1) return null;
    let live = this.slots.get(key);
    if (!live) this.slots.set(key, (live = { holdMs, tokens: new Set() }));
    live.tokens.add(token);
    return token;
  }

  async releaseSlot(name: string, token: string): Promise<void> {
    const key = this.slotKey(name);
    const live = this.slots.get(key);
    live?.tokens.delete(token);
    if (live?.tokens.size === 0) this.slots.delete(key);
    await this.redis.zrem(key, token);
  }

  async read(refs: readonly PeriodRef[]): Promise<Counters[]> {
    if (refs.length === 0) return [];
    if (this.redis.status !== 'ready') throw new StoreUnavailableError('redis is not connected');
    // One command per period (keys of several providers may live on several cluster nodes);
    // sent together all the same, as the client pipelines what is issued at once.
    const results = await answerSoon(Promise.all(refs.map((ref) => this.redis.hmget(this.refKeys(ref)[0], 'requests', 'tokens', 'estimated', 'cost', 'unpriced'))));
    return results.map((value) => {
      const [requests, tokens, estimated, cost, unpriced] = value.map((v) => Number(v ?? 0));
      return { requests: requests ?? 0, tokens: tokens ?? 0, estimatedTokens: estimated ?? 0, cost: cost ?? 0, unpriced: unpriced ?? 0 };
    });
  }

  /**
   * Refused at once while Redis is away. A reset that times out may still be applied when Redis
   * answers; the caller is told it failed, and repeating it is harmless.
   */
  async reset(refs: readonly PeriodRef[]): Promise<void> {
    if (refs.length === 0) return;
    if (this.redis.status !== 'ready') throw new StoreUnavailableError('redis is not connected');
    await answerSoon(Promise.all(refs.map((ref) => this.redis.del(this.refKeys(ref)[0]))));
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
    clearInterval(this.refresher);
    const settled = this.flush();
    if (this.redis.status === 'ready') {
      // A frozen Redis must not hold a shutdown forever: what it has not taken in 2 s is dropped.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2000);
      });
      await Promise.race([settled.catch(() => undefined).then(() => this.redis.quit()).catch(() => undefined), late]);
      clearTimeout(timer);
      this.redis.disconnect();
    } else {
      this.redis.disconnect();
    }
  }

  /** Both keys of a period share the provider's hash tag, so they live on one Redis Cluster slot. */
  private refKeys(ref: PeriodRef): [string, string] {
    const base = `${this.prefix}{${hashTag(ref.providerId)}}:${ref.start}`;
    return [`${base}:usage`, `${base}:holds`];
  }

  private slotKey(name: string): string {
    return `${this.prefix}{${hashTag(name)}}:slots`;
  }

  private refreshSlots(): void {
    if (this.redis.status !== 'ready') return;
    for (const [key, live] of this.slots) {
      this.redis.gwRefresh(key, live.holdMs, ...live.tokens).catch(() => undefined);
    }
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
