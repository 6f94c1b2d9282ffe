import { createHash, randomBytes } from 'node:crypto';

/**
 * A virtual key (SPEC §8) as stored: its settings and the SHA-256 of its secret. The secret
 * itself is shown once, in the answer that creates it, and kept nowhere.
 */
export interface KeyRateLimit {
  requests_per_period: number | null;
  tokens_per_period: number | null;
  /** USD per period. */
  cost_per_period: number | null;
  period_cron: string;
}

/** What an operator sets on a key. */
export interface KeySettings {
  name: string;
  /** Public model names the key may use; null: every model. */
  models: string[] | null;
  rate_limit: KeyRateLimit | null;
  max_concurrent: number | null;
  /** ISO 8601; null: never. */
  expires_at: string | null;
  metadata: Record<string, unknown> | null;
}

export interface KeyRecord extends KeySettings {
  id: string;
  /** Hex SHA-256 of the secret. */
  hash: string;
  created_at: string;
  updated_at: string;
  /** Set by DELETE: the key is refused from then on, its record and usage stay visible. */
  revoked_at: string | null;
}

export type KeyState = 'active' | 'revoked' | 'expired';

/** `sk-gw-` and 32 URL-safe characters (192 random bits). */
export function newSecret(): string {
  return `sk-gw-${randomBytes(24).toString('base64url')}`;
}

export function newKeyId(): string {
  return `key_${randomBytes(8).toString('hex')}`;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function keyState(k: KeyRecord, now: number): KeyState {
  if (k.revoked_at !== null) return 'revoked';
  if (k.expires_at !== null && Date.parse(k.expires_at) <= now) return 'expired';
  return 'active';
}

/** The key's usage counters live under this id in the usage store (provider ids always hold a `/`). */
export function keyCounterId(id: string): string {
  return `key:${id}`;
}

/** A stored record read back; null when it is not one (a record of a later version, or damaged). */
export function parseRecord(text: string): KeyRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Partial<KeyRecord>;
  if (typeof r.id !== 'string' || typeof r.hash !== 'string' || typeof r.name !== 'string') return null;
  return {
    id: r.id,
    hash: r.hash,
    name: r.name,
    models: Array.isArray(r.models) ? r.models.filter((m): m is string => typeof m === 'string') : null,
    rate_limit: r.rate_limit && typeof r.rate_limit === 'object' ? r.rate_limit : null,
    max_concurrent: typeof r.max_concurrent === 'number' ? r.max_concurrent : null,
    expires_at: typeof r.expires_at === 'string' ? r.expires_at : null,
    metadata: r.metadata && typeof r.metadata === 'object' ? r.metadata : null,
    created_at: typeof r.created_at === 'string' ? r.created_at : new Date(0).toISOString(),
    updated_at: typeof r.updated_at === 'string' ? r.updated_at : new Date(0).toISOString(),
    revoked_at: typeof r.revoked_at === 'string' ? r.revoked_at : null,
  };
}
