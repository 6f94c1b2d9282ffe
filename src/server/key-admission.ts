import type { FastifyReply } from 'fastify';
import { DEFAULT_PERIOD_CRON } from '../config/cron.js';
import type { ProviderConfig } from '../config/load.js';
import { keyQuotaExceeded, tooManyConcurrentRequests, usageStoreUnreachable } from '../errors.js';
import { keyCounterId, type KeyRecord } from '../keys/record.js';
import type { Quota, QuotaHold } from '../usage/quota.js';
import type { UsageRecord } from '../usage/sink.js';

/** A slot of a key's `max_concurrent` frees itself this long after its process died (live ones are renewed). */
const SLOT_HOLD_MS = 60_000;

/** A request a virtual key may send: its concurrency slot (freed when the reply closes) and its quota hold. */
export interface Admission {
  /** The request was answered by a provider: it counts against the key's requests. */
  served(): void;
  /** No provider answered it (or it was refused upstream): the hold is given back. */
  notServed(): void;
}

const WHAT = { requests: 'requests', tokens: 'tokens', cost: 'budget' } as const;

/**
 * Admits a request of a virtual key before anything is sent upstream (SPEC §8): one of its
 * `max_concurrent` slots, then one request of its quota, held like a provider's (so its request
 * limit is exact on any number of instances). Refusals are 429s with `Retry-After`; a store that
 * cannot be reached is a 503. A refused request takes nothing.
 */
export async function admitKey(key: KeyRecord, order: readonly ProviderConfig[], reply: FastifyReply, quota: Quota, now: number): Promise<Admission> {
  const store = quota.store;
  const slotName = keyCounterId(key.id);
  let slot: string | null = null;
  if (key.max_concurrent !== null) {
    try {
      slot = await store.acquireSlot(slotName, key.max_concurrent, SLOT_HOLD_MS);
    } catch {
      throw usageStoreUnreachable();
    }
    if (slot === null) throw tooManyConcurrentRequests(key.max_concurrent);
  }
  const freeSlot = (): void => {
    if (slot !== null) store.releaseSlot(slotName, slot).catch(() => undefined);
    slot = null;
  };
  // Long enough for every try of every provider; a hold of a process that died frees itself then.
  const holdMs = order.reduce((ms, p) => ms + (p.retry + 1) * (p.timeout * 1000 + 2000), 10_000);
  const held = await quota.holdKey(key, holdMs);
  if (!held.ok) {
    freeSlot();
    if (held.reason === 'usage store unavailable') throw usageStoreUnreachable();
    throw keyQuotaExceeded(WHAT[held.exhausted], (held.resetAt - now) / 1000);
  }
  if (slot !== null) {
    if (reply.raw.closed) freeSlot();
    else reply.raw.once('close', freeSlot);
  }
  const hold: QuotaHold = held.hold;
  let done = false;
  return {
    served: () => {
      if (done) return;
      done = true;
      quota.commit(hold);
    },
    notServed: () => {
      if (done) return;
      done = true;
      quota.release(hold);
    },
  };
}

/** What the usage of a key's request is recorded under. */
export function keyUsage(key: KeyRecord | null): UsageRecord['key'] {
  return key ? { id: key.id, name: key.name, cron: key.rate_limit?.period_cron ?? DEFAULT_PERIOD_CRON } : null;
}
