import { createHash } from 'node:crypto';
import type { PinStore } from '../usage/pins.js';

/**
 * Session affinity (SPEC §9): the requests of one agent session go to the provider that served
 * the session last, so the provider's prompt cache stays warm. The pin is a hint kept in the
 * usage store (shared by instances) under a digest of the key, the model and the session id: a
 * store that is slow or down only costs the hint, never an error or more than a short wait.
 */

/** Session headers, by precedence: Codex sends `session-id`, Claude Code `x-claude-code-session-id`. */
const SESSION_HEADERS = ['session-id', 'session_id', 'x-session-id', 'x-claude-code-session-id'] as const;

/** A session id longer than this is not one (it is ignored, never hashed whole). */
export const MAX_SESSION_ID = 1024;

/**
 * The session a request belongs to: `prompt_cache_key`, a session header, Anthropic's
 * `metadata.user_id`, else `user`; null when none is a usable string.
 */
export function sessionOf(body: unknown, headers: Readonly<Record<string, string | string[] | undefined>>): string | null {
  const b = isObject(body) ? body : {};
  const cacheKey = usable(b.prompt_cache_key);
  if (cacheKey !== null) return `k:${cacheKey}`;
  for (const name of SESSION_HEADERS) {
    const v = usable(headers[name]);
    if (v !== null) return `h:${v}`;
  }
  const userId = usable(isObject(b.metadata) ? b.metadata.user_id : undefined);
  if (userId !== null) return `m:${userId}`;
  const user = usable(b.user);
  return user === null ? null : `u:${user}`;
}

/** The pin's name in the store: a digest, so no client text is stored or used as a key. */
export function pinKey(keyId: string | null, model: string, session: string): string {
  return `aff:${createHash('sha256').update(`${keyId ?? ''}\0${model}\0${session}`).digest('base64url').slice(0, 32)}`;
}

/** How a request's pin went: followed (`hit`), yielded to another provider (`miss`), or a session's first (`new`). */
export interface Pin {
  provider: string;
  at: number;
}

export type AffinityResult = 'hit' | 'miss' | 'new';

export interface AffinityCounts {
  /** Requests this provider served since start, and those of them that followed a pin. */
  served: number;
  pinned: number;
}

export class Affinity {
  private readonly byProvider = new Map<string, AffinityCounts>();

  constructor(
    private readonly pins: () => PinStore,
    private readonly now: () => number,
  ) {}

  /** The provider id the session is pinned to and when the pin was written; null when none, expired, or the store did not answer in time. */
  async lookup(key: string): Promise<Pin | null> {
    try {
      return await this.pins().get(key);
    } catch {
      return null;
    }
  }

  /**
   * A request of the session was served by `providerId`: the pin follows it (rewritten when it
   * moved, or when a quarter of its TTL has passed, so a live session keeps its pin without a
   * write per request). Never waits, never throws.
   */
  served(key: string, pin: Pin | null, providerId: string, ttlMs: number): AffinityResult {
    if (pin === null || pin.provider !== providerId || this.now() - pin.at > ttlMs / 4) {
      try {
        this.pins().set(key, providerId, ttlMs).catch(() => undefined);
      } catch {
        // A pin not written costs only the hint.
      }
    }
    const result: AffinityResult = pin === null ? 'new' : pin.provider === providerId ? 'hit' : 'miss';
    this.count(providerId, result === 'hit');
    return result;
  }

  /** A request without a session (or with affinity off) was served by `providerId`. */
  unpinned(providerId: string): void {
    this.count(providerId, false);
  }

  counts(providerId: string): AffinityCounts {
    return this.byProvider.get(providerId) ?? { served: 0, pinned: 0 };
  }

  /** Forget providers that are no longer configured. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.byProvider.keys()) if (!ids.has(id)) this.byProvider.delete(id);
  }

  private count(providerId: string, pinned: boolean): void {
    let c = this.byProvider.get(providerId);
    if (!c) this.byProvider.set(providerId, (c = { served: 0, pinned: 0 }));
    c.served += 1;
    if (pinned) c.pinned += 1;
  }
}

function usable(v: unknown): string | null {
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === 'string' && s.length > 0 && s.length <= MAX_SESSION_ID ? s : null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
