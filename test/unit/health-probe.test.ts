import { describe, expect, it } from 'vitest';
import { HealthBook, PROBE_STALE_MS } from '../../src/routing/health.js';

/**
 * The cooldown as a circuit breaker (SPEC §9): avoided while it lasts, then one request probes
 * the provider while the others keep away, and the probe's outcome closes or reopens it. Time is
 * passed in.
 */
const A = 'm/a';

describe('HealthBook: avoid during a cooldown', () => {
  it('an unknown provider is not avoided and is tried normally', () => {
    const h = new HealthBook();
    expect(h.avoid(A, 0)).toBeNull();
    expect(h.beginTry(A, 0)).toBe('ok');
    expect(h.get(A)).toBeUndefined();
  });

  it('a rate-limited cooldown is hard: { until, reason, hard: true }', () => {
    const h = new HealthBook();
    h.recordFailure(A, 1_000, 5_000, '429', 'rate_limited', 'retry-after');
    expect(h.avoid(A, 1_000)).toEqual({ until: 6_000, reason: 'rate_limited', hard: true });
    expect(h.avoid(A, 5_999)).toEqual({ until: 6_000, reason: 'rate_limited', hard: true });
    expect(h.get(A)?.cooldownSource).toBe('retry-after');
  });

  it('a failure cooldown is soft: { until, reason, hard: false }', () => {
    const h = new HealthBook();
    h.recordFailure(A, 1_000, 5_000, '503');
    expect(h.avoid(A, 2_000)).toEqual({ until: 6_000, reason: 'failed', hard: false });
  });

  it('a try during the cooldown (a last resort) is ok and does not take the probe', () => {
    const h = new HealthBook();
    h.recordFailure(A, 1_000, 5_000, '503');
    expect(h.beginTry(A, 2_000)).toBe('ok');
    expect(h.get(A)?.probe).toBe('due');
    expect(h.beginTry(A, 6_000)).toBe('probe');
  });

  it('keeps providers apart', () => {
    const h = new HealthBook();
    h.recordFailure(A, 0, 5_000, '429', 'rate_limited');
    expect(h.avoid('m/b', 100)).toBeNull();
    expect(h.beginTry('m/b', 6_000)).toBe('ok');
    expect(h.beginTry(A, 6_000)).toBe('probe');
  });
});

describe('HealthBook: the probe after a cooldown', () => {
  /** A book whose provider A cooled down from 1,000 to 6,000 for `reason`. */
  function cooled(reason: 'rate_limited' | 'failed' = 'rate_limited'): HealthBook {
    const h = new HealthBook();
    h.recordFailure(A, 1_000, 5_000, 'boom', reason);
    return h;
  }

  it('once the cooldown ends, the provider is not avoided until someone takes the probe', () => {
    const h = cooled();
    expect(h.avoid(A, 6_000)).toBeNull();
    expect(h.coolingUntil(A, 6_000)).toBe(0);
  });

  it('the first try after the cooldown is the probe; further ones are busy', () => {
    const h = cooled();
    expect(h.beginTry(A, 6_000)).toBe('probe');
    expect(h.beginTry(A, 6_001)).toBe('busy');
    expect(h.beginTry(A, 7_000)).toBe('busy');
    expect(h.get(A)).toMatchObject({ probe: 'in_flight', probeSince: 6_000 });
  });

  it('while the probe is in flight, avoid says avoided for a second from now, hard as the cooldown was', () => {
    const h = cooled('rate_limited');
    h.beginTry(A, 6_000);
    expect(h.avoid(A, 6_500)).toEqual({ until: 7_500, reason: 'rate_limited', hard: true });
    expect(h.avoid(A, 9_000)).toEqual({ until: 10_000, reason: 'rate_limited', hard: true });
    const f = cooled('failed');
    f.beginTry(A, 6_000);
    expect(f.avoid(A, 6_200)).toEqual({ until: 7_200, reason: 'failed', hard: false });
    // Not cooling any more: only avoided.
    expect(f.coolingUntil(A, 6_200)).toBe(0);
  });

  it('a successful probe closes the circuit', () => {
    const h = cooled();
    expect(h.beginTry(A, 6_000)).toBe('probe');
    h.recordSuccess(A, 250);
    expect(h.avoid(A, 6_300)).toBeNull();
    expect(h.beginTry(A, 6_300)).toBe('ok');
    expect(h.beginTry(A, 6_301)).toBe('ok');
    expect(h.get(A)).toMatchObject({ probe: 'none', cooldownReason: null, cooldownUntil: 0, consecutiveFailures: 0, lastLatencyMs: 250 });
  });

  it('a failed probe opens a new cooldown, after which the next try probes again', () => {
    const h = cooled('failed');
    expect(h.beginTry(A, 6_000)).toBe('probe');
    h.recordFailure(A, 7_000, 10_000, '503 again');
    expect(h.avoid(A, 7_000)).toEqual({ until: 17_000, reason: 'failed', hard: false });
    expect(h.coolingUntil(A, 7_000)).toBe(17_000);
    expect(h.beginTry(A, 8_000)).toBe('ok');
    expect(h.avoid(A, 17_000)).toBeNull();
    expect(h.beginTry(A, 17_000)).toBe('probe');
    expect(h.beginTry(A, 17_001)).toBe('busy');
    expect(h.get(A)?.consecutiveFailures).toBe(2);
  });

  it('a failed probe may change the reason: a 429 on a failed provider makes it hard', () => {
    const h = cooled('failed');
    h.beginTry(A, 6_000);
    h.recordFailure(A, 6_500, 3_000, '429', 'rate_limited', 'retry-after');
    expect(h.avoid(A, 6_500)).toEqual({ until: 9_500, reason: 'rate_limited', hard: true });
  });

  it('an abandoned probe lets the next try be the probe', () => {
    const h = cooled();
    expect(h.beginTry(A, 6_000)).toBe('probe');
    h.abandonProbe(A);
    expect(h.avoid(A, 6_100)).toBeNull();
    expect(h.beginTry(A, 6_100)).toBe('probe');
    expect(h.beginTry(A, 6_200)).toBe('busy');
    expect(h.get(A)?.probeSince).toBe(6_100);
  });

  it('abandonProbe without a probe in flight changes nothing', () => {
    const h = cooled();
    h.abandonProbe(A);
    expect(h.get(A)?.probe).toBe('due');
    expect(h.avoid(A, 2_000)).toEqual({ until: 6_000, reason: 'rate_limited', hard: true });
    expect(() => h.abandonProbe('m/unknown')).not.toThrow();
    expect(h.get('m/unknown')).toBeUndefined();
    const ok = new HealthBook();
    ok.recordSuccess(A, 10);
    ok.abandonProbe(A);
    expect(ok.get(A)?.probe).toBe('none');
    expect(ok.beginTry(A, 0)).toBe('ok');
  });

  it('a probe older than PROBE_STALE_MS counts as lost: the next try probes again', () => {
    const h = cooled();
    expect(h.beginTry(A, 6_000)).toBe('probe');
    expect(h.beginTry(A, 6_000 + PROBE_STALE_MS - 1)).toBe('busy');
    expect(h.avoid(A, 6_000 + PROBE_STALE_MS - 1)).toEqual({ until: 6_000 + PROBE_STALE_MS - 1 + 1_000, reason: 'rate_limited', hard: true });
    expect(h.avoid(A, 6_000 + PROBE_STALE_MS)).toBeNull();
    expect(h.beginTry(A, 6_000 + PROBE_STALE_MS)).toBe('probe');
    expect(h.get(A)?.probeSince).toBe(6_000 + PROBE_STALE_MS);
    expect(h.beginTry(A, 6_000 + PROBE_STALE_MS + 1)).toBe('busy');
  });

  it('PROBE_STALE_MS is ten minutes', () => {
    expect(PROBE_STALE_MS).toBe(600_000);
  });
});

describe('HealthBook: recordFailure', () => {
  it('with 0 ms sets no cooldown: not avoided, tried normally', () => {
    const h = new HealthBook();
    h.recordFailure(A, 1_000, 0, 'timeout');
    expect(h.avoid(A, 1_000)).toBeNull();
    expect(h.coolingUntil(A, 1_000)).toBe(0);
    expect(h.beginTry(A, 1_000)).toBe('ok');
    expect(h.get(A)).toMatchObject({ cooldownUntil: 0, cooldownReason: null, probe: 'none', consecutiveFailures: 1, lastError: 'timeout', lastErrorAt: 1_000 });
  });

  it('with a negative cooldown sets none either', () => {
    const h = new HealthBook();
    h.recordFailure(A, 1_000, -5, 'x', 'rate_limited');
    expect(h.avoid(A, 1_000)).toBeNull();
    expect(h.beginTry(A, 1_000)).toBe('ok');
  });

  it('a failed probe with 0 ms lets the next try probe again at once', () => {
    const h = new HealthBook();
    h.recordFailure(A, 0, 1_000, '503');
    expect(h.beginTry(A, 1_000)).toBe('probe');
    h.recordFailure(A, 1_100, 0, 'timeout');
    expect(h.avoid(A, 1_100)).toBeNull();
    expect(h.beginTry(A, 1_100)).toBe('probe');
  });

  it('a shorter new cooldown does not cut a longer running one (nor change its reason)', () => {
    const h = new HealthBook();
    h.recordFailure(A, 0, 60_000, '429', 'rate_limited', 'retry-after');
    h.recordFailure(A, 1_000, 5_000, '503', 'failed', 'cooldown_seconds');
    expect(h.avoid(A, 10_000)).toEqual({ until: 60_000, reason: 'rate_limited', hard: true });
    expect(h.coolingUntil(A, 10_000)).toBe(60_000);
    expect(h.get(A)?.cooldownSource).toBe('retry-after');
    expect(h.get(A)?.lastError).toBe('503');
  });

  it('a longer new cooldown replaces the running one', () => {
    const h = new HealthBook();
    h.recordFailure(A, 0, 5_000, '503');
    h.recordFailure(A, 1_000, 30_000, '429', 'rate_limited', 'x-ratelimit-reset-requests');
    expect(h.avoid(A, 2_000)).toEqual({ until: 31_000, reason: 'rate_limited', hard: true });
    expect(h.get(A)?.cooldownSource).toBe('x-ratelimit-reset-requests');
  });

  it('coolingUntil follows the cooldown only', () => {
    const h = new HealthBook();
    h.recordFailure(A, 1_000, 5_000, '503');
    expect(h.coolingUntil(A, 1_000)).toBe(6_000);
    expect(h.coolingUntil(A, 5_999)).toBe(6_000);
    expect(h.coolingUntil(A, 6_000)).toBe(0);
    h.beginTry(A, 6_000);
    expect(h.coolingUntil(A, 6_100)).toBe(0);
  });
});

describe('HealthBook: retain', () => {
  it('forgets providers no longer configured, cooldown and probe included', () => {
    const h = new HealthBook();
    h.recordFailure(A, 0, 5_000, '429', 'rate_limited');
    h.recordFailure('m/b', 0, 5_000, '429', 'rate_limited');
    h.beginTry('m/b', 5_000);
    h.retain(new Set(['m/c']));
    expect(h.get(A)).toBeUndefined();
    expect(h.get('m/b')).toBeUndefined();
    expect(h.avoid(A, 1_000)).toBeNull();
    expect(h.avoid('m/b', 5_100)).toBeNull();
    expect(h.beginTry('m/b', 5_100)).toBe('ok');
  });

  it('keeps the ones still configured', () => {
    const h = new HealthBook();
    h.recordFailure(A, 0, 5_000, '429', 'rate_limited');
    h.retain(new Set([A]));
    expect(h.avoid(A, 1_000)).toEqual({ until: 5_000, reason: 'rate_limited', hard: true });
  });
});
