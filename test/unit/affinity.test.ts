import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Affinity, MAX_SESSION_ID, pinKey, sessionOf, type Pin } from '../../src/routing/affinity.js';
import type { PinStore } from '../../src/usage/pins.js';

/** Session affinity (SPEC §9): which session a request belongs to, the pin's key, and the pins' bookkeeping. */

describe('sessionOf', () => {
  const allHeaders = {
    'session-id': 'h1',
    session_id: 'h2',
    'x-session-id': 'h3',
    'x-claude-code-session-id': 'h4',
  };
  const fullBody = { prompt_cache_key: 'pck', metadata: { user_id: 'meta' }, user: 'usr' };

  it('prompt_cache_key comes first', () => {
    expect(sessionOf(fullBody, allHeaders)).toBe('k:pck');
  });

  it('then the headers, in the order session-id, session_id, x-session-id, x-claude-code-session-id', () => {
    const body = { metadata: { user_id: 'meta' }, user: 'usr' };
    const h: Record<string, string | undefined> = { ...allHeaders };
    expect(sessionOf(body, h)).toBe('h:h1');
    h['session-id'] = undefined;
    expect(sessionOf(body, h)).toBe('h:h2');
    h.session_id = undefined;
    expect(sessionOf(body, h)).toBe('h:h3');
    h['x-session-id'] = undefined;
    expect(sessionOf(body, h)).toBe('h:h4');
    h['x-claude-code-session-id'] = undefined;
    expect(sessionOf(body, h)).toBe('m:meta');
  });

  it('the last header alone is enough', () => {
    expect(sessionOf({}, { 'x-claude-code-session-id': 'cc-1' })).toBe('h:cc-1');
  });

  it('then metadata.user_id, then user', () => {
    expect(sessionOf({ metadata: { user_id: 'meta' }, user: 'usr' }, {})).toBe('m:meta');
    expect(sessionOf({ user: 'usr' }, {})).toBe('u:usr');
  });

  it('none: null', () => {
    expect(sessionOf({}, {})).toBeNull();
    expect(sessionOf({ model: 'gpt', messages: [] }, { 'content-type': 'application/json' })).toBeNull();
  });

  it('a body that is not an object still lets the headers speak', () => {
    expect(sessionOf(null, { 'x-session-id': 's' })).toBe('h:s');
    expect(sessionOf('text', {})).toBeNull();
    expect(sessionOf([{ prompt_cache_key: 'x' }], {})).toBeNull();
    expect(sessionOf(undefined, {})).toBeNull();
  });

  it('the same value from different sources is a different session', () => {
    const ids = [
      sessionOf({ prompt_cache_key: 'same' }, {}),
      sessionOf({}, { 'session-id': 'same' }),
      sessionOf({ metadata: { user_id: 'same' } }, {}),
      sessionOf({ user: 'same' }, {}),
    ];
    expect(new Set(ids).size).toBe(4);
  });

  it('a header given several times counts by its first value', () => {
    expect(sessionOf({}, { 'session-id': ['first', 'second'] })).toBe('h:first');
    // An empty list is no value: the next header speaks.
    expect(sessionOf({}, { 'session-id': [], session_id: 'next' })).toBe('h:next');
    // A first value that is empty is no value either.
    expect(sessionOf({}, { 'session-id': ['', 'second'], 'x-session-id': 'x' })).toBe('h:x');
  });

  it('empty strings are ignored at every level', () => {
    expect(sessionOf({ prompt_cache_key: '', metadata: { user_id: '' }, user: 'u' }, { 'session-id': '', session_id: '' })).toBe('u:u');
    expect(sessionOf({ prompt_cache_key: '', user: '' }, {})).toBeNull();
  });

  it('values that are not strings are ignored', () => {
    expect(sessionOf({ prompt_cache_key: 123, user: 'u' }, {})).toBe('u:u');
    expect(sessionOf({ prompt_cache_key: { a: 1 } }, { session_id: 's' })).toBe('h:s');
    expect(sessionOf({ metadata: { user_id: 42 }, user: 'u' }, {})).toBe('u:u');
    expect(sessionOf({ metadata: [{ user_id: 'm' }], user: 'u' }, {})).toBe('u:u');
    expect(sessionOf({ metadata: 'm', user: 'u' }, {})).toBe('u:u');
    expect(sessionOf({ user: true }, {})).toBeNull();
    expect(sessionOf({ user: null }, {})).toBeNull();
  });

  it(`strings longer than MAX_SESSION_ID (${MAX_SESSION_ID}) are ignored; exactly that long is kept`, () => {
    expect(MAX_SESSION_ID).toBe(1024);
    const max = 'a'.repeat(MAX_SESSION_ID);
    const over = 'a'.repeat(MAX_SESSION_ID + 1);
    expect(sessionOf({ prompt_cache_key: max }, {})).toBe(`k:${max}`);
    expect(sessionOf({ prompt_cache_key: over, user: 'u' }, {})).toBe('u:u');
    expect(sessionOf({}, { 'session-id': over, 'x-session-id': 'x' })).toBe('h:x');
    expect(sessionOf({ metadata: { user_id: over } }, {})).toBeNull();
    expect(sessionOf({ user: over }, {})).toBeNull();
  });
});

describe('pinKey', () => {
  const session = 'h:my-secret-session-0123456789';

  it('is deterministic', () => {
    expect(pinKey('key1', 'gpt-4o', session)).toBe(pinKey('key1', 'gpt-4o', session));
  });

  it('differs by key id, by model and by session', () => {
    const base = pinKey('key1', 'gpt-4o', session);
    expect(pinKey('key2', 'gpt-4o', session)).not.toBe(base);
    expect(pinKey(null, 'gpt-4o', session)).not.toBe(base);
    expect(pinKey('key1', 'gpt-4o-mini', session)).not.toBe(base);
    expect(pinKey('key1', 'gpt-4o', `${session}x`)).not.toBe(base);
    expect(pinKey('key1', 'gpt-4o', 'k:my-secret-session-0123456789')).not.toBe(base);
  });

  it('has a bounded length whatever the session', () => {
    const short = pinKey('k', 'm', 'u:a');
    const long = pinKey('k'.repeat(500), 'm'.repeat(500), `k:${'s'.repeat(MAX_SESSION_ID)}`);
    expect(short).toHaveLength(36);
    expect(long).toHaveLength(36);
    expect(short).toMatch(/^aff:[A-Za-z0-9_-]{32}$/);
    expect(long).toMatch(/^aff:[A-Za-z0-9_-]{32}$/);
  });

  it('contains none of the session text', () => {
    const key = pinKey('key1', 'gpt-4o', session);
    expect(key).not.toContain('my-secret-session');
    expect(key).not.toContain('secret');
    expect(key).not.toContain('0123456789');
  });
});

// ---------------------------------------------------------------------------------------------
// Affinity with a fake pin store (the PinStore interface of src/usage/pins.ts, structurally).

interface StoredPin {
  provider: string;
  at: number;
}
interface FakePinStore {
  get(key: string): Promise<StoredPin | null>;
  set(key: string, provider: string, ttlMs: number): Promise<void>;
  count(): Promise<number>;
}

class FakePins implements FakePinStore {
  readonly map = new Map<string, StoredPin>();
  readonly sets: Array<[string, string, number]> = [];
  readonly gets: string[] = [];
  getMode: 'ok' | 'reject' | 'throw' = 'ok';
  setMode: 'ok' | 'reject' = 'ok';

  constructor(private readonly now: () => number) {}

  get(key: string): Promise<StoredPin | null> {
    this.gets.push(key);
    if (this.getMode === 'throw') throw new Error('store closed');
    if (this.getMode === 'reject') return Promise.reject(new Error('store down'));
    return Promise.resolve(this.map.get(key) ?? null);
  }

  set(key: string, provider: string, ttlMs: number): Promise<void> {
    this.sets.push([key, provider, ttlMs]);
    if (this.setMode === 'reject') return Promise.reject(new Error('store down'));
    this.map.set(key, { provider, at: this.now() });
    return Promise.resolve();
  }

  async count(): Promise<number> {
    return this.map.size;
  }
}

function setup(start = 1_000_000): { clock: { t: number }; pins: FakePins; aff: Affinity } {
  const clock = { t: start };
  const now = (): number => clock.t;
  const pins = new FakePins(now);
  // The fake is a PinStore structurally (src/usage/pins.ts); the type-only import is erased at run time.
  const store: PinStore = pins;
  const aff = new Affinity(() => store, now);
  return { clock, pins, aff };
}

const TTL = 600_000;
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Affinity.lookup', () => {
  it('returns what the store has', async () => {
    const { pins, aff } = setup();
    pins.map.set('aff:k', { provider: 'm/a', at: 5 });
    expect(await aff.lookup('aff:k')).toEqual({ provider: 'm/a', at: 5 });
    expect(pins.gets).toEqual(['aff:k']);
  });

  it('returns null when the store has no pin', async () => {
    const { aff } = setup();
    expect(await aff.lookup('aff:none')).toBeNull();
  });

  it('returns null when the store rejects', async () => {
    const { pins, aff } = setup();
    pins.map.set('aff:k', { provider: 'm/a', at: 5 });
    pins.getMode = 'reject';
    await expect(aff.lookup('aff:k')).resolves.toBeNull();
  });

  it('returns null when the store throws at once', async () => {
    const { pins, aff } = setup();
    pins.getMode = 'throw';
    await expect(aff.lookup('aff:k')).resolves.toBeNull();
  });
});

describe('Affinity.served', () => {
  it("a session's first request is 'new' and writes the pin", async () => {
    const { pins, aff } = setup();
    expect(aff.served('aff:k', null, 'm/a', TTL)).toBe('new');
    expect(pins.sets).toEqual([['aff:k', 'm/a', TTL]]);
    await tick();
    expect(await aff.lookup('aff:k')).toEqual({ provider: 'm/a', at: 1_000_000 });
  });

  it("served by the pinned provider with a fresh pin: 'hit' and no write", () => {
    const { clock, pins, aff } = setup();
    const pin: Pin = { provider: 'm/a', at: clock.t };
    expect(aff.served('aff:k', pin, 'm/a', TTL)).toBe('hit');
    clock.t += TTL / 4; // exactly a quarter: still fresh
    expect(aff.served('aff:k', pin, 'm/a', TTL)).toBe('hit');
    expect(pins.sets).toHaveLength(0);
  });

  it("served by the pinned provider with a pin older than ttl/4: 'hit' and the pin is rewritten", () => {
    const { clock, pins, aff } = setup();
    const pin: Pin = { provider: 'm/a', at: clock.t - TTL / 4 - 1 };
    expect(aff.served('aff:k', pin, 'm/a', TTL)).toBe('hit');
    expect(pins.sets).toEqual([['aff:k', 'm/a', TTL]]);
    expect(pins.map.get('aff:k')).toEqual({ provider: 'm/a', at: clock.t });
  });

  it("served by another provider: 'miss' and the pin moves", () => {
    const { clock, pins, aff } = setup();
    const pin: Pin = { provider: 'm/a', at: clock.t };
    expect(aff.served('aff:k', pin, 'm/b', TTL)).toBe('miss');
    expect(pins.sets).toEqual([['aff:k', 'm/b', TTL]]);
    expect(pins.map.get('aff:k')?.provider).toBe('m/b');
  });

  it('a session of several requests writes only when needed', () => {
    const { clock, pins, aff } = setup();
    const key = 'aff:s';
    const results: string[] = [];
    let pin: Pin | null = null;
    const step = (provider: string, advance: number): void => {
      clock.t += advance;
      results.push(aff.served(key, pin, provider, TTL));
      pin = pins.map.get(key) ?? null;
    };
    step('m/a', 0); // new: write
    step('m/a', 1_000); // hit, fresh
    step('m/a', 1_000); // hit, fresh
    step('m/b', 1_000); // miss: write
    step('m/b', TTL / 4 + 1); // hit, stale: write
    step('m/b', 10); // hit, fresh
    expect(results).toEqual(['new', 'hit', 'hit', 'miss', 'hit', 'hit']);
    expect(pins.sets.map(([, p]) => p)).toEqual(['m/a', 'm/b', 'm/b']);
  });

  describe('when the store rejects the write', () => {
    const seen: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      seen.push(reason);
    };
    beforeEach(() => {
      seen.length = 0;
      process.on('unhandledRejection', onUnhandled);
    });
    afterEach(() => {
      process.off('unhandledRejection', onUnhandled);
    });

    it('never throws, still answers and counts, and leaves no unhandled rejection', async () => {
      const { pins, aff } = setup();
      pins.setMode = 'reject';
      expect(() => aff.served('aff:k', null, 'm/a', TTL)).not.toThrow();
      expect(aff.served('aff:k', { provider: 'm/b', at: 0 }, 'm/a', TTL)).toBe('miss');
      expect(pins.sets).toHaveLength(2);
      for (let i = 0; i < 5; i++) await tick();
      expect(seen).toEqual([]);
      expect(aff.counts('m/a')).toEqual({ served: 2, pinned: 0 });
    });
  });
});

describe('Affinity counts', () => {
  it('tracks served and pinned per provider', () => {
    const { clock, aff } = setup();
    aff.served('aff:1', null, 'm/a', TTL); // new
    aff.served('aff:1', { provider: 'm/a', at: clock.t }, 'm/a', TTL); // hit
    aff.served('aff:2', { provider: 'm/a', at: clock.t }, 'm/b', TTL); // miss
    aff.served('aff:3', { provider: 'm/b', at: clock.t }, 'm/b', TTL); // hit
    aff.served('aff:4', { provider: 'm/b', at: clock.t - TTL }, 'm/b', TTL); // hit (stale)
    expect(aff.counts('m/a')).toEqual({ served: 2, pinned: 1 });
    expect(aff.counts('m/b')).toEqual({ served: 3, pinned: 2 });
    expect(aff.counts('m/none')).toEqual({ served: 0, pinned: 0 });
  });

  it('unpinned counts served only, and writes nothing', () => {
    const { pins, aff } = setup();
    aff.unpinned('m/a');
    aff.unpinned('m/a');
    aff.served('aff:1', { provider: 'm/a', at: 1_000_000 }, 'm/a', TTL);
    expect(aff.counts('m/a')).toEqual({ served: 3, pinned: 1 });
    expect(pins.sets).toHaveLength(0);
    expect(pins.gets).toHaveLength(0);
  });

  it('retain forgets providers no longer configured', () => {
    const { aff } = setup();
    aff.unpinned('m/a');
    aff.unpinned('m/b');
    aff.unpinned('m/b');
    aff.retain(new Set(['m/b', 'm/c']));
    expect(aff.counts('m/a')).toEqual({ served: 0, pinned: 0 });
    expect(aff.counts('m/b')).toEqual({ served: 2, pinned: 0 });
    aff.unpinned('m/a');
    expect(aff.counts('m/a')).toEqual({ served: 1, pinned: 0 });
  });
});
