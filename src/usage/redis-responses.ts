import type { RedisClient } from './redis-client.js';
import type { ResponseRecordLimits, ResponseStore, ResponseStoreStats } from './response-store.js';
import { answerSoon as soon } from './redis-answer.js';

/**
 * Stored responses in Redis, seen by every instance: one hash per record (owner, body) that
 * expires by itself, an index of ids scored by expiry, their sizes and the bytes in all, kept
 * together by scripts. Every key carries the `{responses}` hash tag, so a script touches one
 * Redis Cluster slot.
 */
const DROP = `
local function drop(id)
  local size = tonumber(redis.call('HGET', KEYS[3], id) or '0')
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('DEL', ARGV[1] .. id)
  redis.call('DECRBY', KEYS[4], size)
end
local function purge(now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)) do drop(id) end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** KEYS: record, index, sizes, bytes. ARGV: record prefix, id, owner, body, expires at, max bytes. */
const PUT = `${DROP}
purge(now)
local size = string.len(ARGV[4])
local max = tonumber(ARGV[6])
local total = tonumber(redis.call('GET', KEYS[4]) or '0')
while total + size > max do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #oldest == 0 then break end
  drop(oldest[1])
  total = tonumber(redis.call('GET', KEYS[4]) or '0')
end
redis.call('HSET', KEYS[1], 'owner', ARGV[3], 'body', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], size)
redis.call('INCRBY', KEYS[4], size)
return 1
`;

/** KEYS: record, index, sizes, bytes. ARGV: record prefix, id, owner. */
const DELETE = `${DROP}
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[3] then return 0 end
drop(ARGV[2])
return 1
`;

/** KEYS: record, index, sizes, bytes. ARGV: record prefix. */
const STATS = `${DROP}
purge(now)
return { redis.call('ZCARD', KEYS[2]), tonumber(redis.call('GET', KEYS[4]) or '0') }
`;

type Commands = RedisClient & {
  gwResponsePut(record: string, index: string, sizes: string, bytes: string, prefix: string, id: string, owner: string, body: string, expiresAt: number, maxBytes: number): Promise<number>;
  gwResponseDelete(record: string, index: string, sizes: string, bytes: string, prefix: string, id: string, owner: string): Promise<number>;
  gwResponseStats(record: string, index: string, sizes: string, bytes: string, prefix: string): Promise<[number, number]>;
};

export class RedisResponses implements ResponseStore {
  private readonly redis: Commands;
  private readonly base: string;

  constructor(redis: RedisClient, prefix: string) {
    redis.defineCommand('gwResponsePut', { numberOfKeys: 4, lua: PUT });
    redis.defineCommand('gwResponseDelete', { numberOfKeys: 4, lua: DELETE });
    redis.defineCommand('gwResponseStats', { numberOfKeys: 4, lua: STATS });
    this.redis = redis as Commands;
    this.base = `${prefix}{responses}:`;
  }

  async put(id: string, owner: string, body: string, limits: ResponseRecordLimits): Promise<boolean> {
    if (Buffer.byteLength(body) > limits.maxBytes) return false;
    await soon(this.redis.gwResponsePut(...this.keys(id), `${this.base}r:`, id, owner, body, limits.expiresAt, limits.maxBytes));
    return true;
  }

  async get(id: string, owner: string): Promise<string | null> {
    const [o, body] = await soon(this.redis.hmget(this.keys(id)[0], 'owner', 'body'));
    return o === owner && typeof body === 'string' ? body : null;
  }

  async delete(id: string, owner: string): Promise<boolean> {
    return (await soon(this.redis.gwResponseDelete(...this.keys(id), `${this.base}r:`, id, owner))) === 1;
  }

  async stats(): Promise<ResponseStoreStats> {
    const [count, bytes] = await soon(this.redis.gwResponseStats(...this.keys(''), `${this.base}r:`));
    return { count: Number(count), bytes: Number(bytes) };
  }

  private keys(id: string): [string, string, string, string] {
    return [`${this.base}r:${id}`, `${this.base}index`, `${this.base}sizes`, `${this.base}bytes`];
  }
}

