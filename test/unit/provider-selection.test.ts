import { describe, expect, it } from 'vitest';
import { parseConfig, type ModelConfig } from '../../src/config/load.js';
import { planRoute } from '../../src/routing/plan.js';
import { HealthBook } from '../../src/routing/health.js';
import { orderProviders, type RoundRobinState, type Selectable } from '../../src/routing/select.js';

const P = (id: string, priority: number, weight: number): Selectable => ({ id, priority, weight });
const ids = (list: readonly Selectable[]): string[] => list.map((p) => p.id);
const none = (_id: string): number => 0;

/** The order of `calls` consecutive requests against the same state. */
function run(candidates: readonly Selectable[], calls: number, rr: RoundRobinState = new Map(), cooling: (id: string) => number = none): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < calls; i++) out.push(ids(orderProviders(candidates, cooling, rr)));
  return out;
}
const heads = (orders: string[][]): string[] => orders.map((o) => o[0] ?? '');
const count = (list: readonly string[], id: string): number => list.filter((x) => x === id).length;

describe('orderProviders: tiers and smooth weighted round-robin', () => {
  it('the lowest priority tier comes first, whatever the file order', () => {
    const list = [P('c', 3, 10), P('b2', 2, 10), P('a', 1, 10), P('b1', 2, 50)];
    expect(ids(orderProviders(list, none, new Map()))).toEqual(['a', 'b1', 'b2', 'c']);
  });

  it('negative and zero priorities sort numerically before 1', () => {
    const list = [P('one', 1, 10), P('zero', 0, 10), P('neg', -5, 10), P('ten', 10, 10)];
    expect(ids(orderProviders(list, none, new Map()))).toEqual(['neg', 'zero', 'one', 'ten']);
  });

  it('weights 10 and 30 give exactly 10:30 first picks over 40 calls', () => {
    const h = heads(run([P('light', 1, 10), P('heavy', 1, 30)], 40));
    expect(count(h, 'light')).toBe(10);
    expect(count(h, 'heavy')).toBe(30);
  });

  it('weights 10 and 30 give exactly 10:30 over every window of 40 consecutive calls (400 calls)', () => {
    const h = heads(run([P('light', 1, 10), P('heavy', 1, 30)], 400));
    for (let start = 0; start + 40 <= h.length; start++) {
      const win = h.slice(start, start + 40);
      expect([start, count(win, 'light'), count(win, 'heavy')]).toEqual([start, 10, 30]);
    }
  });

  it('weights 10 and 30 interleave: every 4 consecutive picks hold 1 light and 3 heavy, never 2 light in a row', () => {
    const h = heads(run([P('light', 1, 10), P('heavy', 1, 30)], 400));
    for (let i = 0; i + 4 <= h.length; i++) expect(count(h.slice(i, i + 4), 'light')).toBe(1);
    for (let i = 0; i + 2 <= h.length; i++) expect(h[i] === 'light' && h[i + 1] === 'light').toBe(false);
    // Never 3 of the lighter in a row (a fortiori), never 4 of the heavier in a row.
    expect(h.join(',')).not.toContain('heavy,heavy,heavy,heavy');
  });

  it('the nginx sequence for 10/30 is heavy, light, heavy, heavy, repeating', () => {
    expect(heads(run([P('light', 1, 10), P('heavy', 1, 30)], 8))).toEqual([
      'heavy', 'light', 'heavy', 'heavy', 'heavy', 'light', 'heavy', 'heavy',
    ]);
  });

  it('weights 1, 1, 1 rotate through the providers in file order', () => {
    expect(heads(run([P('a', 1, 1), P('b', 1, 1), P('c', 1, 1)], 9))).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('weights 5, 3, 2 give 5:3:2 over every 10 calls', () => {
    const h = heads(run([P('a', 1, 5), P('b', 1, 3), P('c', 1, 2)], 100));
    for (let start = 0; start + 10 <= h.length; start += 10) {
      const win = h.slice(start, start + 10);
      expect([count(win, 'a'), count(win, 'b'), count(win, 'c')]).toEqual([5, 3, 2]);
    }
  });

  it('a single provider is always the whole order and leaves the state alone', () => {
    const rr: RoundRobinState = new Map();
    expect(run([P('only', 1, 7)], 5, rr)).toEqual([['only'], ['only'], ['only'], ['only'], ['only']]);
    expect(rr.size).toBe(0);
  });

  it('no candidates give an empty order', () => {
    expect(orderProviders([], none, new Map())).toEqual([]);
  });

  it('each provider appears exactly once in every order', () => {
    const list = [P('a', 1, 10), P('b', 1, 30), P('c', 2, 5), P('d', 2, 20), P('e', 3, 1)];
    const cooling = (id: string): number => (id === 'b' || id === 'e' ? 1_000 : 0);
    for (const cool of [none, cooling]) {
      for (const order of run(list, 50, new Map(), cool)) expect([...order].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    }
  });

  it('after the pick, the rest of the tier follows by weight, file order breaking ties', () => {
    const list = [P('w10', 1, 10), P('w30', 1, 30), P('w20', 1, 20), P('w20b', 1, 20)];
    const orders = run(list, 20);
    for (const order of orders) {
      const rest = order.slice(1);
      const weightOf = (id: string): number => list.find((p) => p.id === id)?.weight ?? 0;
      const expected = list.filter((p) => p.id !== order[0]).sort((a, b) => b.weight - a.weight).map((p) => p.id);
      expect(rest).toEqual(expected);
      for (let i = 1; i < rest.length; i++) expect(weightOf(rest[i - 1] ?? '')).toBeGreaterThanOrEqual(weightOf(rest[i] ?? ''));
    }
    // First call: w30 is picked (highest current weight); the rest is w20, w20b (file order), w10.
    expect(orders[0]).toEqual(['w30', 'w20', 'w20b', 'w10']);
  });

  it('tiers after the first are ordered by weight and do not advance the round-robin state', () => {
    const list = [P('a', 1, 10), P('b', 1, 10), P('x', 2, 10), P('y', 2, 40), P('z', 2, 20)];
    const rr: RoundRobinState = new Map();
    const orders = run(list, 6, rr);
    for (const order of orders) expect(order.slice(2)).toEqual(['y', 'z', 'x']);
    expect([...rr.keys()].sort()).toEqual(['a', 'b']);
    expect(heads(orders)).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
  });

  it('failover order: picked head, rest of its tier, then the next tiers, then the cooling ones', () => {
    const list = [P('a', 1, 10), P('b', 1, 30), P('c', 2, 10), P('d', 1, 10)];
    const cooling = (id: string): number => (id === 'd' ? 5_000 : 0);
    expect(ids(orderProviders(list, cooling, new Map()))).toEqual(['b', 'a', 'c', 'd']);
  });
});

describe('orderProviders: cooling providers', () => {
  const list = [P('p1-late', 1, 10), P('p1-ready', 1, 10), P('p2-soon', 2, 10), P('p1-soon', 1, 10), P('p2-ready', 2, 10), P('p2-late', 2, 10)];
  const until: Record<string, number> = { 'p1-late': 9_000, 'p1-soon': 3_000, 'p2-soon': 1_000, 'p2-late': 8_000 };
  const cooling = (id: string): number => until[id] ?? 0;

  it('come after all ready ones, by priority then soonest cooldown end', () => {
    expect(ids(orderProviders(list, cooling, new Map()))).toEqual(['p1-ready', 'p2-ready', 'p1-soon', 'p1-late', 'p2-soon', 'p2-late']);
  });

  it('when all are cooling, all are still returned in that order', () => {
    const all: Record<string, number> = { a: 500, b: 200, c: 100, d: 300 };
    const list2 = [P('a', 1, 10), P('b', 1, 50), P('c', 2, 10), P('d', 1, 10)];
    const rr: RoundRobinState = new Map();
    expect(ids(orderProviders(list2, (id) => all[id] ?? 0, rr))).toEqual(['b', 'd', 'a', 'c']);
    expect(rr.size).toBe(0);
  });

  it('a cooling provider is left out of the round-robin and the ready ones share it', () => {
    const three = [P('a', 1, 10), P('b', 1, 10), P('c', 1, 10)];
    const bCooling = (id: string): number => (id === 'b' ? 1 : 0);
    const orders = run(three, 6, new Map(), bCooling);
    expect(heads(orders)).toEqual(['a', 'c', 'a', 'c', 'a', 'c']);
    for (const o of orders) expect(o[2]).toBe('b');
  });

  it('when the first tier is all cooling, the next tier is round-robined', () => {
    const two = [P('a', 1, 10), P('x', 2, 10), P('y', 2, 10)];
    const aCooling = (id: string): number => (id === 'a' ? 1 : 0);
    expect(run(two, 4, new Map(), aCooling)).toEqual([
      ['x', 'y', 'a'],
      ['y', 'x', 'a'],
      ['x', 'y', 'a'],
      ['y', 'x', 'a'],
    ]);
  });
});

function modelFrom(providers: Array<Record<string, unknown>>): ModelConfig {
  const raw = { m: { providers: providers.map((p) => ({ endpoint: 'https://a.example/v1', api_key: 'k', model: 'x', ...p })) } };
  const r = parseConfig(JSON.stringify(raw), { env: {}, tz: 'UTC' });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  const m = r.config.models.get('m');
  if (!m) throw new Error('no model');
  return m;
}

describe('planRoute', () => {
  const view = { avoid: () => null, rr: new Map<string, number>() };
  const plan = (m: ReturnType<typeof modelFrom>, promptTokens: number | null = null) => planRoute(m, { endpoint: '/chat/completions', promptTokens }, { ...view, rr: new Map() });

  it('excludes disabled providers and keeps the file order among equals', () => {
    const m = modelFrom([{ name: 'a' }, { name: 'b', enabled: false }, { name: 'c' }]);
    const r = plan(m);
    expect(r.ok && r.order.map((p) => p.name).sort()).toEqual(['a', 'c']);
  });

  it("all disabled gives why 'disabled'", () => {
    const m = modelFrom([{ name: 'a', enabled: false }, { name: 'b', enabled: false }]);
    expect(plan(m)).toEqual({ ok: false, why: 'disabled' });
  });

  it('keeps stream-only and JSON-only providers: the gateway converts for them', () => {
    const mixed = modelFrom([
      { name: 'both', priority: 1 },
      { name: 'stream-only', non_stream_support: false, priority: 2 },
      { name: 'json-only', stream_support: false, priority: 3 },
      { name: 'off-stream', enabled: false, non_stream_support: false },
    ]);
    const r = plan(mixed);
    expect(r.ok && r.order.map((p) => p.name)).toEqual(['both', 'stream-only', 'json-only']);
  });

  it('drops providers whose context the prompt exceeds, and says so when none fits', () => {
    const m = modelFrom([{ name: 'small', max_context_length: 100, priority: 1 }, { name: 'large', max_context_length: 1000, priority: 2 }]);
    const r = plan(m, 500);
    expect(r.ok && r.order.map((p) => p.name)).toEqual(['large']);
    expect(plan(m, 5000)).toEqual({ ok: false, why: 'context', tokens: 5000 });
    const all = plan(m, null);
    expect(all.ok && all.order.map((p) => p.name)).toEqual(['small', 'large']);
  });

  it('puts providers that are cooling down after failures last', () => {
    const m = modelFrom([{ name: 'a', priority: 1 }, { name: 'b', priority: 2 }]);
    const r = planRoute(m, { endpoint: '/chat/completions', promptTokens: null }, {
      avoid: (id) => (id.endsWith('/a') ? { until: 99, reason: 'failed', hard: false } : null), rr: new Map(),
    });
    expect(r.ok && r.order.map((p) => p.name)).toEqual(['b', 'a']);
  });

  it('leaves out providers waiting out a rate limit, and says when the first is back when all are', () => {
    const m = modelFrom([{ name: 'a', priority: 1 }, { name: 'b', priority: 2 }]);
    const waits: Record<string, number> = { a: 500, b: 300 };
    const avoid = (only: string[]) => (id: string) => {
      const name = id.split('/')[1]!;
      return only.includes(name) ? { until: waits[name]!, reason: 'rate_limited' as const, hard: true } : null;
    };
    const one = planRoute(m, { endpoint: '/chat/completions', promptTokens: null }, { avoid: avoid(['a']), rr: new Map() });
    expect(one.ok && one.order.map((p) => p.name)).toEqual(['b']);
    expect(one.ok && one.waiting.map((w) => [w.provider.name, w.until])).toEqual([['a', 500]]);
    const all = planRoute(m, { endpoint: '/chat/completions', promptTokens: null }, { avoid: avoid(['a', 'b']), rr: new Map() });
    expect(all).toMatchObject({ ok: false, why: 'waiting', until: 300 });
  });
});

describe('HealthBook', () => {
  it('recordFailure with a cooldown cools the provider until now + cooldownMs', () => {
    const h = new HealthBook();
    h.recordFailure('m/a', 1_000, 30_000, '503');
    expect(h.coolingUntil('m/a', 1_000)).toBe(31_000);
    expect(h.coolingUntil('m/a', 30_999)).toBe(31_000);
    expect(h.coolingUntil('m/a', 31_000)).toBe(0);
    expect(h.coolingUntil('m/a', 40_000)).toBe(0);
    expect(h.get('m/a')).toEqual({
      cooldownUntil: 31_000, cooldownReason: 'failed', cooldownSource: null, probe: 'due', probeSince: 0,
      consecutiveFailures: 1, lastError: '503', lastErrorAt: 1_000, lastLatencyMs: null,
    });
  });

  it('an unknown id is not cooling', () => {
    expect(new HealthBook().coolingUntil('m/none', 5)).toBe(0);
  });

  it('cooldownMs 0 records the failure but does not cool', () => {
    const h = new HealthBook();
    h.recordFailure('m/a', 1_000, 0, 'timeout');
    expect(h.coolingUntil('m/a', 1_000)).toBe(0);
    expect(h.get('m/a')?.consecutiveFailures).toBe(1);
    expect(h.get('m/a')?.lastError).toBe('timeout');
  });

  it('a shorter later cooldown does not shorten a longer one; a longer one extends it', () => {
    const h = new HealthBook();
    h.recordFailure('m/a', 0, 60_000, '429');
    h.recordFailure('m/a', 1_000, 5_000, '503');
    expect(h.coolingUntil('m/a', 2_000)).toBe(60_000);
    h.recordFailure('m/a', 2_000, 100_000, '429');
    expect(h.coolingUntil('m/a', 2_000)).toBe(102_000);
    expect(h.get('m/a')?.consecutiveFailures).toBe(3);
    expect(h.get('m/a')?.lastErrorAt).toBe(2_000);
  });

  it('recordSuccess clears the cooldown and the consecutive failures and records latency', () => {
    const h = new HealthBook();
    h.recordFailure('m/a', 0, 60_000, '500');
    h.recordFailure('m/a', 1, 60_000, '500');
    h.recordSuccess('m/a', 123);
    expect(h.coolingUntil('m/a', 2)).toBe(0);
    expect(h.get('m/a')).toMatchObject({ cooldownUntil: 0, consecutiveFailures: 0, lastLatencyMs: 123, lastError: '500' });
  });

  it('keeps providers apart', () => {
    const h = new HealthBook();
    h.recordFailure('m/a', 0, 10_000, '500');
    expect(h.coolingUntil('m/b', 0)).toBe(0);
    expect(h.coolingUntil('n/a', 0)).toBe(0);
  });

  it('retain() forgets removed ids and keeps the others', () => {
    const h = new HealthBook();
    h.recordFailure('m/a', 0, 10_000, '500');
    h.recordFailure('m/b', 0, 10_000, '500');
    h.recordSuccess('m/c', 5);
    h.retain(new Set(['m/b', 'm/c', 'm/new']));
    expect(h.get('m/a')).toBeUndefined();
    expect(h.coolingUntil('m/a', 0)).toBe(0);
    expect(h.coolingUntil('m/b', 0)).toBe(10_000);
    expect(h.get('m/c')?.lastLatencyMs).toBe(5);
    expect(h.get('m/new')).toBeUndefined();
  });
});

describe('session pins and avoidance (SPEC §9)', () => {
  /** Runs `calls` unpinned orders on `rr` and returns the heads. */
  const unpinnedHeads = (list: readonly Selectable[], rr: RoundRobinState, calls: number, cool: (id: string) => number = none): string[] =>
    Array.from({ length: calls }, () => ids(orderProviders(list, cool, rr))[0] ?? '');

  describe('orderProviders with a pinned provider', () => {
    const list = [P('a', 1, 10), P('b', 1, 30), P('c', 1, 10), P('x', 2, 50)];

    it('a pinned id in the first tier comes first, the rest of the tier by weight, then the next tiers', () => {
      expect(ids(orderProviders(list, none, new Map(), 'a'))).toEqual(['a', 'b', 'c', 'x']);
      expect(ids(orderProviders(list, none, new Map(), 'c'))).toEqual(['c', 'b', 'a', 'x']);
    });

    it('does not advance the round-robin: the state is unchanged and the next unpinned pick is what it would have been', () => {
      const rr: RoundRobinState = new Map();
      const reference: RoundRobinState = new Map();
      // Move both states somewhere non-trivial first.
      expect(unpinnedHeads(list, rr, 3)).toEqual(unpinnedHeads(list, reference, 3));
      const before = [...rr.entries()];
      expect(before.length).toBe(3);
      for (let i = 0; i < 5; i++) expect(ids(orderProviders(list, none, rr, 'c'))[0]).toBe('c');
      expect([...rr.entries()]).toEqual(before);
      // The unpinned picks carry on exactly as if the pinned requests had not been.
      const after = unpinnedHeads(list, rr, 10);
      expect(after).toEqual(unpinnedHeads(list, reference, 10));
      expect([...rr.entries()]).toEqual([...reference.entries()]);
    });

    it('a pinned id on a fresh state leaves it empty', () => {
      const rr: RoundRobinState = new Map();
      orderProviders(list, none, rr, 'b');
      expect(rr.size).toBe(0);
    });

    it('a pinned id in a lower tier is ignored: the normal pick, and the round-robin advances', () => {
      const rr: RoundRobinState = new Map();
      const reference: RoundRobinState = new Map();
      for (let i = 0; i < 6; i++) {
        expect(ids(orderProviders(list, none, rr, 'x'))).toEqual(ids(orderProviders(list, none, reference)));
      }
      expect(rr.size).toBe(3);
      expect([...rr.entries()]).toEqual([...reference.entries()]);
      // Weights 10/30/10: the first two picks are b then a (the round-robin's), never x.
      expect(unpinnedHeads(list, new Map(), 2)).toEqual(['b', 'a']);
      const fresh: RoundRobinState = new Map();
      expect([0, 1].map(() => ids(orderProviders(list, none, fresh, 'x'))[0])).toEqual(['b', 'a']);
    });

    it('a pinned id in a lower tier does not move it within its tier either (that tier stays by weight)', () => {
      const tiers = [P('a', 1, 10), P('b', 1, 10), P('x', 2, 50), P('y', 2, 10)];
      expect(ids(orderProviders(tiers, none, new Map(), 'y'))).toEqual(['a', 'b', 'x', 'y']);
    });

    it('a pinned id that is cooling is ignored: the normal pick among the ready ones, round-robin advanced, the pinned one last', () => {
      const cool = (id: string): number => (id === 'a' ? 9_000 : 0);
      const rr: RoundRobinState = new Map();
      const reference: RoundRobinState = new Map();
      for (let i = 0; i < 4; i++) {
        const order = ids(orderProviders(list, cool, rr, 'a'));
        expect(order).toEqual(ids(orderProviders(list, cool, reference)));
        expect(order[order.length - 1]).toBe('a');
        expect(order[0]).not.toBe('a');
      }
      expect([...rr.keys()].sort()).toEqual(['b', 'c']);
      expect([...rr.entries()]).toEqual([...reference.entries()]);
    });

    it('when the whole first tier cools, a pinned id in the next (now first usable) tier is honoured', () => {
      const two = [P('a', 1, 10), P('x', 2, 10), P('y', 2, 30)];
      const cool = (id: string): number => (id === 'a' ? 1 : 0);
      const rr: RoundRobinState = new Map();
      expect(ids(orderProviders(two, cool, rr, 'x'))).toEqual(['x', 'y', 'a']);
      expect(rr.size).toBe(0);
    });

    it('pinned null or an unknown id behaves as no pin', () => {
      const withNull: RoundRobinState = new Map();
      const unknown: RoundRobinState = new Map();
      const plain: RoundRobinState = new Map();
      for (let i = 0; i < 8; i++) {
        const expected = ids(orderProviders(list, none, plain));
        expect(ids(orderProviders(list, none, withNull, null))).toEqual(expected);
        expect(ids(orderProviders(list, none, unknown, 'nope'))).toEqual(expected);
      }
      expect([...withNull.entries()]).toEqual([...plain.entries()]);
      expect([...unknown.entries()]).toEqual([...plain.entries()]);
    });
  });

  describe('planRoute with avoidance and pins', () => {
    const req = { endpoint: '/chat/completions' as const, promptTokens: null };
    const nameOf = (id: string): string => id.split('/')[1]!;
    type Av = { until: number; reason: 'rate_limited' | 'failed'; hard: boolean };
    const avoiding = (table: Record<string, Av>) => (id: string): Av | null => table[nameOf(id)] ?? null;
    const hard = (until: number): Av => ({ until, reason: 'rate_limited', hard: true });
    const soft = (until: number): Av => ({ until, reason: 'failed', hard: false });

    it('hard-avoided providers are left out and listed in waiting; soft-avoided ones come last', () => {
      const m = modelFrom([{ name: 'a', priority: 1 }, { name: 'b', priority: 1 }, { name: 'c', priority: 2 }, { name: 'd', priority: 2 }]);
      const r = planRoute(m, req, { avoid: avoiding({ a: hard(5_000), b: soft(7_000), d: hard(3_000) }), rr: new Map() });
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.order.map((p) => p.name)).toEqual(['c', 'b']);
      expect(r.waiting.map((w) => [w.provider.name, w.until])).toEqual([['a', 5_000], ['d', 3_000]]);
      expect(r.waiting.every((w) => m.providers.includes(w.provider))).toBe(true);
    });

    it('soft-avoided ones come after ready ones of every tier, by priority then soonest end', () => {
      const m = modelFrom([{ name: 'a', priority: 1 }, { name: 'b', priority: 1 }, { name: 'c', priority: 2 }, { name: 'd', priority: 3 }]);
      const r = planRoute(m, req, { avoid: avoiding({ a: soft(9_000), b: soft(2_000), c: soft(1_000) }), rr: new Map() });
      expect(r.ok && r.order.map((p) => p.name)).toEqual(['d', 'b', 'a', 'c']);
      expect(r.ok && r.waiting).toEqual([]);
    });

    it('when all are hard-avoided the plan is waiting until the earliest', () => {
      const m = modelFrom([{ name: 'a', priority: 1 }, { name: 'b', priority: 2 }, { name: 'c', priority: 3 }]);
      const r = planRoute(m, req, { avoid: avoiding({ a: hard(900), b: hard(300), c: hard(600) }), rr: new Map() });
      expect(r.ok).toBe(false);
      if (r.ok || r.why !== 'waiting') throw new Error(`expected waiting, got ${JSON.stringify(r)}`);
      expect(r.until).toBe(300);
      expect(r.waiting.map((w) => [w.provider.name, w.until])).toEqual([['a', 900], ['b', 300], ['c', 600]]);
    });

    it('one soft-avoided provider among hard ones keeps the plan open', () => {
      const m = modelFrom([{ name: 'a', priority: 1 }, { name: 'b', priority: 2 }]);
      const r = planRoute(m, req, { avoid: avoiding({ a: hard(900), b: soft(300) }), rr: new Map() });
      expect(r.ok && r.order.map((p) => p.name)).toEqual(['b']);
      expect(r.ok && r.waiting.map((w) => w.provider.name)).toEqual(['a']);
    });

    it("the view's pin puts the pinned provider first and leaves the round-robin alone", () => {
      const m = modelFrom([{ name: 'a', priority: 1, weight: 10 }, { name: 'b', priority: 1, weight: 30 }, { name: 'c', priority: 2 }]);
      const pinnedId = m.providers.find((p) => p.name === 'a')!.id;
      const rr: RoundRobinState = new Map();
      const r = planRoute(m, req, { avoid: () => null, rr, pinned: pinnedId });
      expect(r.ok && r.order.map((p) => p.name)).toEqual(['a', 'b', 'c']);
      expect(rr.size).toBe(0);
    });

    it('a pinned provider that is hard-avoided is left out; soft-avoided, it goes last and the round-robin picks', () => {
      const m = modelFrom([{ name: 'a', priority: 1, weight: 10 }, { name: 'b', priority: 1, weight: 30 }, { name: 'c', priority: 1, weight: 20 }]);
      const bId = m.providers.find((p) => p.name === 'b')!.id;
      const rrHard: RoundRobinState = new Map();
      const h = planRoute(m, req, { avoid: avoiding({ b: hard(1_000) }), rr: rrHard, pinned: bId });
      // a (10) and c (20) share the round-robin: c is picked first.
      expect(h.ok && h.order.map((p) => p.name)).toEqual(['c', 'a']);
      expect(h.ok && h.waiting.map((w) => w.provider.name)).toEqual(['b']);
      expect(rrHard.size).toBe(2);
      const rrSoft: RoundRobinState = new Map();
      const s = planRoute(m, req, { avoid: avoiding({ b: soft(1_000) }), rr: rrSoft, pinned: bId });
      expect(s.ok && s.order.map((p) => p.name)).toEqual(['c', 'a', 'b']);
      expect(rrSoft.size).toBe(2);
    });

    it('with a real HealthBook: a rate-limited provider waits, one being probed by another request is avoided', () => {
      const m = modelFrom([{ name: 'a', priority: 1 }, { name: 'b', priority: 1 }, { name: 'c', priority: 2 }]);
      const id = (n: string): string => m.providers.find((p) => p.name === n)!.id;
      const health = new HealthBook();
      health.recordFailure(id('a'), 0, 10_000, '429', 'rate_limited');
      health.recordFailure(id('b'), 0, 1_000, '503');
      expect(health.beginTry(id('b'), 2_000)).toBe('probe');
      const r = planRoute(m, req, { avoid: (pid) => health.avoid(pid, 2_500), rr: new Map() });
      expect(r.ok && r.order.map((p) => p.name)).toEqual(['c', 'b']);
      expect(r.ok && r.waiting.map((w) => [w.provider.name, w.until])).toEqual([['a', 10_000]]);
    });
  });
});
