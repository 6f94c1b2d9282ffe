import type { FastifyInstance } from 'fastify';
import type { GatewayState } from '../app.js';
import { invalidRequest, keyNotFound, keyRevoked, tooManyKeys, usageStoreUnreachable } from '../errors.js';
import { MAX_KEYS } from '../keys/keys.js';
import { keyState, type KeyRecord } from '../keys/record.js';
import { checkCreate, checkPatch, type CheckContext, type KeySettings } from '../keys/validate.js';
import { usd } from '../usage/cost.js';
import type { Counters } from '../usage/store.js';

export type KeyDeps = Pick<GatewayState, 'config' | 'keys' | 'quota' | 'now' | 'tz' | 'log'>;

const ZERO: Counters = { requests: 0, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 };

/** A key as the admin API shows it: settings, state and the current period's usage; never the secret or its hash. */
export function keyView(deps: KeyDeps, k: KeyRecord, c: Counters | null, now: number) {
  const period = deps.quota.keyPeriod(k, now);
  const counters = c ?? ZERO;
  return {
    id: k.id,
    object: 'gateway.key',
    name: k.name,
    status: keyState(k, now),
    models: k.models,
    rate_limit: k.rate_limit,
    max_concurrent: k.max_concurrent,
    expires_at: k.expires_at,
    metadata: k.metadata,
    created_at: k.created_at,
    updated_at: k.updated_at,
    revoked_at: k.revoked_at,
    usage: c === null ? null : {
      requests: counters.requests,
      tokens: counters.tokens,
      estimated_tokens: counters.estimatedTokens,
      // Unknown stays unknown: requests were made and none of them had a price.
      cost: counters.cost === 0 && counters.unpriced > 0 ? null : usd(counters.cost),
      unpriced_requests: counters.unpriced,
      last_reset: deps.quota.iso(period.start),
      next_reset: deps.quota.iso(period.end),
    },
  };
}

function settingsOf(k: KeyRecord): KeySettings {
  return { name: k.name, models: k.models, rate_limit: k.rate_limit, max_concurrent: k.max_concurrent, expires_at: k.expires_at, metadata: k.metadata };
}

/**
 * Virtual keys through the admin API (SPEC §8): create (the secret in this answer only), list,
 * read, change (checked as a whole: a refused change changes nothing), revoke. Guarded like every
 * admin route.
 */
export function registerKeyRoutes(app: FastifyInstance, deps: KeyDeps): void {
  const ctx = (): CheckContext => {
    const models = deps.config().models;
    return { isModel: (name) => models.has(name), tz: deps.tz };
  };
  const store = async <T>(what: string, work: Promise<T>): Promise<T> => {
    try {
      return await work;
    } catch (err) {
      deps.log.logger.error({ err: (err as Error).message }, `ERROR usage store unavailable: cannot ${what}`);
      throw usageStoreUnreachable();
    }
  };
  const find = (id: string): KeyRecord => {
    const k = deps.keys.get(id);
    if (!k) throw keyNotFound(id);
    return k;
  };
  const usageOf = async (keys: readonly KeyRecord[]): Promise<Array<Counters | null>> => {
    const counters = await deps.quota.keyCounters(keys).catch(() => null);
    return keys.map((_k, i) => counters?.[i] ?? null);
  };
  const nameFree = (name: string, exceptId: string | null): void => {
    if (deps.keys.nameTaken(name, exceptId)) throw invalidRequest(`name: another active key is named '${name}'.`, 'name');
  };

  app.post('/admin/keys', async (request, reply) => {
    if (deps.keys.count >= MAX_KEYS) throw tooManyKeys(MAX_KEYS);
    const checked = checkCreate(request.body, ctx());
    if (!checked.ok) throw invalidRequest(checked.message, checked.param);
    nameFree(checked.value.name, null);
    const { key, secret } = await store('create a key', deps.keys.create(checked.value));
    deps.log.logger.info({ key: key.id, name: key.name }, `Created API key ${key.id} (${key.name})`);
    const g = deps.config().global;
    if (!g.admin_key && !g.api_key) {
      deps.log.logger.warn('WARNING virtual keys exist but neither _global.admin_key nor _global.api_key is set: /admin/* is open to anyone who can reach it, who could make keys of their own');
    }
    const now = deps.now();
    return reply.code(201).send({ ...keyView(deps, key, ZERO, now), key: secret });
  });

  app.get('/admin/keys', async () => {
    const keys = deps.keys.list();
    const counters = await usageOf(keys);
    const now = deps.now();
    return { object: 'list', data: keys.map((k, i) => keyView(deps, k, counters[i] ?? null, now)) };
  });

  app.get<{ Params: { id: string } }>('/admin/keys/:id', async (request) => {
    const k = find(request.params.id);
    const [c] = await usageOf([k]);
    return keyView(deps, k, c ?? null, deps.now());
  });

  app.patch<{ Params: { id: string } }>('/admin/keys/:id', async (request) => {
    const current = find(request.params.id);
    if (current.revoked_at !== null) throw keyRevoked(current.id);
    const checked = checkPatch(settingsOf(current), request.body, ctx());
    if (!checked.ok) throw invalidRequest(checked.message, checked.param);
    if (checked.value.name !== current.name) nameFree(checked.value.name, current.id);
    const k = await store('change a key', deps.keys.update(current, checked.value));
    deps.log.logger.info({ key: k.id, name: k.name }, `Changed API key ${k.id} (${k.name})`);
    const [c] = await usageOf([k]);
    return keyView(deps, k, c ?? null, deps.now());
  });

  app.delete<{ Params: { id: string } }>('/admin/keys/:id', async (request) => {
    const current = find(request.params.id);
    const k = await store('revoke a key', deps.keys.revoke(current));
    if (k !== current) deps.log.logger.info({ key: k.id, name: k.name }, `Revoked API key ${k.id} (${k.name})`);
    const [c] = await usageOf([k]);
    return keyView(deps, k, c ?? null, deps.now());
  });
}
