import { describe, expect, it } from 'vitest';
import { PeriodCache, isoWithOffset, periodAt } from '../../src/usage/period.js';

const ms = (iso: string): number => {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw new Error(`bad ISO instant in test: ${iso}`);
  return t;
};
const iso = (t: number): string => new Date(t).toISOString();
const H = 3600_000;

/** periodAt as ISO strings, so failures print readable instants. */
function period(cron: string, tz: string, now: string): { start: string; end: string } {
  const p = periodAt(cron, tz, ms(now));
  return { start: iso(p.start), end: iso(p.end) };
}

/** Every period from the one containing `from` up to the one containing `until`, via periodAt(end). */
function walk(cron: string, tz: string, from: string, until: string): Array<{ start: number; end: number }> {
  const out: Array<{ start: number; end: number }> = [];
  let p = periodAt(cron, tz, ms(from));
  out.push(p);
  while (p.end <= ms(until)) {
    p = periodAt(cron, tz, p.end);
    out.push(p);
    if (out.length > 10_000) throw new Error('walk did not terminate');
  }
  return out;
}

describe('periodAt: fixed-offset zones', () => {
  it.each([
    // [cron, tz, now, start, end]
    ['0 0 * * *', 'UTC', '2026-11-27T00:00:00.000Z', '2026-11-27T00:00:00.000Z', '2026-11-28T00:00:00.000Z'],
    ['0 0 * * *', 'UTC', '2026-11-26T23:59:59.999Z', '2026-11-26T00:00:00.000Z', '2026-11-27T00:00:00.000Z'],
    ['0 0 * * *', 'UTC', '2026-11-27T12:34:56.789Z', '2026-11-27T00:00:00.000Z', '2026-11-28T00:00:00.000Z'],
    ['0 0 * * *', 'UTC', '2026-12-31T23:59:59.999Z', '2026-12-31T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    // Shanghai midnight is 16:00Z the day before.
    ['0 0 * * *', 'Asia/Shanghai', '2026-11-27T15:59:59.000Z', '2026-11-26T16:00:00.000Z', '2026-11-27T16:00:00.000Z'],
    ['0 0 * * *', 'Asia/Shanghai', '2026-11-27T16:00:00.000Z', '2026-11-27T16:00:00.000Z', '2026-11-28T16:00:00.000Z'],
    ['0 0 * * *', 'Asia/Shanghai', '2026-11-27T15:59:59.999Z', '2026-11-26T16:00:00.000Z', '2026-11-27T16:00:00.000Z'],
    // Every 6 hours.
    ['0 */6 * * *', 'UTC', '2026-11-27T13:00:00.000Z', '2026-11-27T12:00:00.000Z', '2026-11-27T18:00:00.000Z'],
    ['0 */6 * * *', 'UTC', '2026-11-27T18:00:00.000Z', '2026-11-27T18:00:00.000Z', '2026-11-28T00:00:00.000Z'],
    ['0 */6 * * *', 'UTC', '2026-11-27T05:59:59.999Z', '2026-11-27T00:00:00.000Z', '2026-11-27T06:00:00.000Z'],
    // Local 00/06/12/18 in Kolkata (+05:30) are 18:30/00:30/06:30/12:30 UTC.
    ['0 */6 * * *', 'Asia/Kolkata', '2026-11-27T13:00:00.000Z', '2026-11-27T12:30:00.000Z', '2026-11-27T18:30:00.000Z'],
    ['0 */6 * * *', 'Asia/Kolkata', '2026-11-27T00:29:59.999Z', '2026-11-26T18:30:00.000Z', '2026-11-27T00:30:00.000Z'],
    // Mondays: 2026-11-27 is a Friday, 2026-11-23 and 2026-11-30 are Mondays.
    ['0 0 * * 1', 'UTC', '2026-11-27T10:00:00.000Z', '2026-11-23T00:00:00.000Z', '2026-11-30T00:00:00.000Z'],
    ['0 0 * * 1', 'UTC', '2026-11-30T00:00:00.000Z', '2026-11-30T00:00:00.000Z', '2026-12-07T00:00:00.000Z'],
    ['0 0 * * 1', 'UTC', '2026-11-29T23:59:59.999Z', '2026-11-23T00:00:00.000Z', '2026-11-30T00:00:00.000Z'],
    // Monday 00:00 in Shanghai is Sunday 16:00Z.
    ['0 0 * * 1', 'Asia/Shanghai', '2026-11-29T16:00:00.000Z', '2026-11-29T16:00:00.000Z', '2026-12-06T16:00:00.000Z'],
    ['0 0 * * 1', 'Asia/Shanghai', '2026-11-29T15:59:59.999Z', '2026-11-22T16:00:00.000Z', '2026-11-29T16:00:00.000Z'],
    // Monthly.
    ['0 0 1 * *', 'UTC', '2026-02-15T00:00:00.000Z', '2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z'],
    ['0 0 1 * *', 'UTC', '2026-12-31T23:59:59.999Z', '2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    // Every 30 minutes.
    ['*/30 * * * *', 'UTC', '2026-11-27T10:45:00.000Z', '2026-11-27T10:30:00.000Z', '2026-11-27T11:00:00.000Z'],
    ['*/30 * * * *', 'UTC', '2026-11-27T10:30:00.000Z', '2026-11-27T10:30:00.000Z', '2026-11-27T11:00:00.000Z'],
    ['*/30 * * * *', 'UTC', '2026-11-27T10:29:59.999Z', '2026-11-27T10:00:00.000Z', '2026-11-27T10:30:00.000Z'],
    ['*/30 * * * *', 'Asia/Kolkata', '2026-11-27T10:45:00.000Z', '2026-11-27T10:30:00.000Z', '2026-11-27T11:00:00.000Z'],
    ['*/30 * * * *', 'Asia/Kolkata', '2026-11-27T10:15:00.000Z', '2026-11-27T10:00:00.000Z', '2026-11-27T10:30:00.000Z'],
  ])('%s in %s at %s starts at %s and ends at %s', (cron, tz, now, start, end) => {
    expect(period(cron, tz, now)).toEqual({ start, end });
  });
});

describe('periodAt: monthly in Europe/Berlin', () => {
  it.each([
    // 1 Nov 00:00 CET = 31 Oct 23:00Z; 1 Dec 00:00 CET = 30 Nov 23:00Z.
    ['2026-11-15T12:00:00.000Z', '2026-10-31T23:00:00.000Z', '2026-11-30T23:00:00.000Z'],
    ['2026-10-31T23:00:00.000Z', '2026-10-31T23:00:00.000Z', '2026-11-30T23:00:00.000Z'],
    ['2026-10-31T22:59:59.999Z', '2026-09-30T22:00:00.000Z', '2026-10-31T23:00:00.000Z'],
    // March spans the spring change: 1 Mar 00:00 CET = 28 Feb 23:00Z, 1 Apr 00:00 CEST = 31 Mar 22:00Z.
    ['2026-03-15T00:00:00.000Z', '2026-02-28T23:00:00.000Z', '2026-03-31T22:00:00.000Z'],
    ['2026-03-31T22:00:00.000Z', '2026-03-31T22:00:00.000Z', '2026-04-30T22:00:00.000Z'],
  ])('at %s the month started at %s and ends at %s', (now, start, end) => {
    expect(period('0 0 1 * *', 'Europe/Berlin', now)).toEqual({ start, end });
  });
});

describe('periodAt: America/New_York across the DST changes of 2026', () => {
  const tz = 'America/New_York';

  it('a daily 02:30 fires once on the spring-forward day, at 03:30 EDT (07:30Z)', () => {
    expect(period('30 2 * * *', tz, '2026-03-08T07:29:59.999Z')).toEqual({
      start: '2026-03-07T07:30:00.000Z', // 02:30 EST
      end: '2026-03-08T07:30:00.000Z', // 03:30 EDT (02:30 does not exist)
    });
    expect(period('30 2 * * *', tz, '2026-03-08T07:30:00.000Z')).toEqual({
      start: '2026-03-08T07:30:00.000Z',
      end: '2026-03-09T06:30:00.000Z', // 02:30 EDT
    });
    const starts = walk('30 2 * * *', tz, '2026-03-06T12:00:00Z', '2026-03-10T12:00:00Z').map((p) => iso(p.start));
    expect(starts).toEqual([
      '2026-03-06T07:30:00.000Z',
      '2026-03-07T07:30:00.000Z',
      '2026-03-08T07:30:00.000Z',
      '2026-03-09T06:30:00.000Z',
      '2026-03-10T06:30:00.000Z',
    ]);
  });

  it('a daily 01:30 fires once on the fall-back day although 01:30 happens twice', () => {
    const starts = walk('30 1 * * *', tz, '2026-10-31T00:00:00Z', '2026-11-03T12:00:00Z').map((p) => iso(p.start));
    expect(starts).toEqual([
      '2026-10-30T05:30:00.000Z', // 01:30 EDT on Oct 30 (the period containing Oct 31 00:00Z)
      '2026-10-31T05:30:00.000Z',
      '2026-11-01T05:30:00.000Z', // the first 01:30 (EDT); the second (06:30Z, EST) is not a firing
      '2026-11-02T06:30:00.000Z',
      '2026-11-03T06:30:00.000Z',
    ]);
  });

  it('during the repeated hour (the second 01:45, 06:45Z) the period still started at the first 01:30', () => {
    expect(period('30 1 * * *', tz, '2026-11-01T06:45:00.000Z')).toEqual({
      start: '2026-11-01T05:30:00.000Z',
      end: '2026-11-02T06:30:00.000Z',
    });
    // The second 01:30 itself is not a boundary.
    expect(period('30 1 * * *', tz, '2026-11-01T06:30:00.000Z').start).toBe('2026-11-01T05:30:00.000Z');
    // The first 01:45 is in the same period.
    expect(period('30 1 * * *', tz, '2026-11-01T05:45:00.000Z').start).toBe('2026-11-01T05:30:00.000Z');
    // And just before the first 01:30 it is the previous day's period.
    expect(period('30 1 * * *', tz, '2026-11-01T05:29:59.999Z')).toEqual({
      start: '2026-10-31T05:30:00.000Z',
      end: '2026-11-01T05:30:00.000Z',
    });
  });

  it('the daily midnight period is 23 h on the spring day and 25 h on the fall day', () => {
    const spring = periodAt('0 0 * * *', tz, ms('2026-03-08T12:00:00Z'));
    expect(iso(spring.start)).toBe('2026-03-08T05:00:00.000Z'); // 00:00 EST
    expect(iso(spring.end)).toBe('2026-03-09T04:00:00.000Z'); // 00:00 EDT
    expect(spring.end - spring.start).toBe(23 * H);
    const fall = periodAt('0 0 * * *', tz, ms('2026-11-01T12:00:00Z'));
    expect(iso(fall.start)).toBe('2026-11-01T04:00:00.000Z'); // 00:00 EDT
    expect(iso(fall.end)).toBe('2026-11-02T05:00:00.000Z'); // 00:00 EST
    expect(fall.end - fall.start).toBe(25 * H);
    const ordinary = periodAt('0 0 * * *', tz, ms('2026-11-03T12:00:00Z'));
    expect(ordinary.end - ordinary.start).toBe(24 * H);
  });
});

describe('periodAt: Europe/Berlin across the DST changes of 2026', () => {
  const tz = 'Europe/Berlin';

  it('a daily 02:30 fires once on the spring day (02:30 does not exist: 03:30 CEST = 01:30Z)', () => {
    const starts = walk('30 2 * * *', tz, '2026-03-28T12:00:00Z', '2026-03-31T12:00:00Z').map((p) => iso(p.start));
    expect(starts).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:30:00.000Z', // 03:30 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
      '2026-03-31T00:30:00.000Z',
    ]);
    expect(period('30 2 * * *', tz, '2026-03-29T01:29:59.999Z').start).toBe('2026-03-28T01:30:00.000Z');
    expect(period('30 2 * * *', tz, '2026-03-29T01:30:00.000Z')).toEqual({
      start: '2026-03-29T01:30:00.000Z',
      end: '2026-03-30T00:30:00.000Z',
    });
  });

  it('a daily 02:30 fires once on the fall day although 02:30 happens twice', () => {
    const starts = walk('30 2 * * *', tz, '2026-10-24T12:00:00Z', '2026-10-27T12:00:00Z').map((p) => iso(p.start));
    expect(starts).toEqual([
      '2026-10-24T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST); the second (01:30Z, CET) is not a firing
      '2026-10-26T01:30:00.000Z', // 02:30 CET
      '2026-10-27T01:30:00.000Z',
    ]);
    // The second 02:45 (CET, 01:45Z) is still in the period that started at the first 02:30.
    expect(period('30 2 * * *', tz, '2026-10-25T01:45:00.000Z')).toEqual({
      start: '2026-10-25T00:30:00.000Z',
      end: '2026-10-26T01:30:00.000Z',
    });
    expect(period('30 2 * * *', tz, '2026-10-25T01:30:00.000Z').start).toBe('2026-10-25T00:30:00.000Z');
  });

  it('the daily midnight period is 23 h on the spring day and 25 h on the fall day', () => {
    const spring = periodAt('0 0 * * *', tz, ms('2026-03-29T12:00:00Z'));
    expect(iso(spring.start)).toBe('2026-03-28T23:00:00.000Z'); // 00:00 CET
    expect(iso(spring.end)).toBe('2026-03-29T22:00:00.000Z'); // 00:00 CEST
    expect(spring.end - spring.start).toBe(23 * H);
    const fall = periodAt('0 0 * * *', tz, ms('2026-10-25T12:00:00Z'));
    expect(iso(fall.start)).toBe('2026-10-24T22:00:00.000Z'); // 00:00 CEST
    expect(iso(fall.end)).toBe('2026-10-25T23:00:00.000Z'); // 00:00 CET
    expect(fall.end - fall.start).toBe(25 * H);
  });
});

describe('periodAt: walking forward', () => {
  it.each([
    // [cron, tz, from, min period, max period]
    ['0 0 * * *', 'America/New_York', '2026-02-20T00:00:00Z', 23 * H, 25 * H],
    ['30 1 * * *', 'America/New_York', '2026-09-01T00:00:00Z', 23 * H, 25 * H],
    ['30 2 * * *', 'America/New_York', '2026-09-01T00:00:00Z', 23 * H, 25 * H],
    ['30 2 * * *', 'Europe/Berlin', '2026-09-01T00:00:00Z', 23 * H, 25 * H],
    ['0 0 * * *', 'Asia/Shanghai', '2026-01-01T00:00:00Z', 24 * H, 24 * H],
    ['0 */6 * * *', 'America/New_York', '2026-10-01T00:00:00Z', 5 * H, 7 * H],
    ['*/30 * * * *', 'Europe/Berlin', '2026-10-23T00:00:00Z', H / 2, H / 2],
    ['*/30 * * * *', 'Asia/Kolkata', '2026-11-27T00:00:00Z', H / 2, H / 2],
    ['0 0 * * 1', 'Europe/Berlin', '2026-01-01T00:00:00Z', 7 * 24 * H - H, 7 * 24 * H + H],
    ['0 0 1 * *', 'Europe/Berlin', '2026-01-01T00:00:00Z', 28 * 24 * H - H, 31 * 24 * H + H],
  ])('%s in %s from %s: 200 contiguous, non-empty periods', (cron, tz, from, minLen, maxLen) => {
    let p = periodAt(cron, tz, ms(from));
    expect(p.start).toBeLessThanOrEqual(ms(from));
    expect(p.end).toBeGreaterThan(ms(from));
    const periods = [p];
    for (let i = 0; i < 200; i++) {
      const next = periodAt(cron, tz, p.end);
      expect(next.start, `period ${i + 1} starts where period ${i} ended`).toBe(p.end);
      expect(next.start).toBeGreaterThan(p.start);
      expect(next.end).toBeGreaterThan(next.start);
      periods.push(next);
      p = next;
    }
    expect(periods).toHaveLength(201);
    for (const q of periods) {
      const len = q.end - q.start;
      expect(len, `period at ${iso(q.start)}`).toBeGreaterThanOrEqual(minLen);
      expect(len, `period at ${iso(q.start)}`).toBeLessThanOrEqual(maxLen);
      // Any instant inside a period maps back to exactly that period.
      const mid = q.start + Math.floor(len / 2);
      expect(periodAt(cron, tz, mid)).toEqual(q);
      expect(periodAt(cron, tz, q.end - 1)).toEqual(q);
    }
  });
});

describe('PeriodCache', () => {
  it('returns the same object within a period and a new one from its end', () => {
    const cache = new PeriodCache('Asia/Shanghai');
    const a = cache.get('p1', '0 0 * * *', ms('2026-11-27T15:00:00Z'));
    expect(iso(a.start)).toBe('2026-11-26T16:00:00.000Z');
    expect(iso(a.end)).toBe('2026-11-27T16:00:00.000Z');
    expect(cache.get('p1', '0 0 * * *', ms('2026-11-27T15:59:59.999Z'))).toBe(a);
    expect(cache.get('p1', '0 0 * * *', a.start)).toBe(a);
    const b = cache.get('p1', '0 0 * * *', a.end);
    expect(b).not.toBe(a);
    expect(b).toEqual({ start: a.end, end: ms('2026-11-28T16:00:00Z') });
    expect(cache.get('p1', '0 0 * * *', ms('2026-11-28T00:00:00Z'))).toBe(b);
  });

  it('keeps providers and crons apart', () => {
    const cache = new PeriodCache('UTC');
    const now = ms('2026-11-27T13:00:00Z');
    const daily = cache.get('p1', '0 0 * * *', now);
    const sixHourly = cache.get('p1', '0 */6 * * *', now);
    expect(daily).toEqual({ start: ms('2026-11-27T00:00:00Z'), end: ms('2026-11-28T00:00:00Z') });
    expect(sixHourly).toEqual({ start: ms('2026-11-27T12:00:00Z'), end: ms('2026-11-27T18:00:00Z') });
    const other = cache.get('p2', '0 0 * * *', now);
    expect(other).toEqual(daily);
    expect(other).not.toBe(daily);
    expect(cache.get('p1', '0 0 * * *', now)).toBe(daily);
  });

  it('recomputes for an instant before the cached period, and after clear()', () => {
    const cache = new PeriodCache('UTC');
    const a = cache.get('p1', '0 0 * * *', ms('2026-11-27T13:00:00Z'));
    const earlier = cache.get('p1', '0 0 * * *', ms('2026-11-26T13:00:00Z'));
    expect(earlier).toEqual({ start: ms('2026-11-26T00:00:00Z'), end: ms('2026-11-27T00:00:00Z') });
    const again = cache.get('p1', '0 0 * * *', ms('2026-11-26T14:00:00Z'));
    expect(again).toBe(earlier);
    cache.clear();
    const fresh = cache.get('p1', '0 0 * * *', ms('2026-11-26T14:00:00Z'));
    expect(fresh).toEqual(earlier);
    expect(fresh).not.toBe(earlier);
    expect(a.start).toBe(ms('2026-11-27T00:00:00Z'));
  });
});

describe('isoWithOffset', () => {
  it.each([
    ['2026-11-27T16:00:00Z', 'Asia/Shanghai', '2026-11-28T00:00:00+08:00'],
    ['2026-11-27T15:59:59Z', 'Asia/Shanghai', '2026-11-27T23:59:59+08:00'],
    ['2026-11-27T16:00:00Z', 'UTC', '2026-11-27T16:00:00+00:00'],
    ['2026-11-27T00:00:00Z', 'UTC', '2026-11-27T00:00:00+00:00'],
    ['2026-01-15T12:00:00Z', 'America/New_York', '2026-01-15T07:00:00-05:00'],
    ['2026-07-15T12:00:00Z', 'America/New_York', '2026-07-15T08:00:00-04:00'],
    ['2026-03-08T07:30:00Z', 'America/New_York', '2026-03-08T03:30:00-04:00'],
    ['2026-03-08T06:59:59Z', 'America/New_York', '2026-03-08T01:59:59-05:00'],
    ['2026-11-01T05:30:00Z', 'America/New_York', '2026-11-01T01:30:00-04:00'],
    ['2026-11-01T06:30:00Z', 'America/New_York', '2026-11-01T01:30:00-05:00'],
    ['2026-11-27T03:00:00Z', 'America/New_York', '2026-11-26T22:00:00-05:00'],
    ['2026-11-27T16:00:00Z', 'Asia/Kolkata', '2026-11-27T21:30:00+05:30'],
    ['2026-11-27T18:30:00Z', 'Asia/Kolkata', '2026-11-28T00:00:00+05:30'],
    ['2026-10-25T00:30:00Z', 'Europe/Berlin', '2026-10-25T02:30:00+02:00'],
    ['2026-10-25T01:30:00Z', 'Europe/Berlin', '2026-10-25T02:30:00+01:00'],
    ['2026-11-27T12:00:00Z', 'Asia/Kathmandu', '2026-11-27T17:45:00+05:45'],
    ['2026-11-27T12:00:00Z', 'America/St_Johns', '2026-11-27T08:30:00-03:30'],
  ])('%s in %s is %s', (instant, tz, expected) => {
    expect(isoWithOffset(ms(instant), tz)).toBe(expected);
  });

  it('drops milliseconds without changing the offset', () => {
    expect(isoWithOffset(ms('2026-11-27T16:00:00.999Z'), 'Asia/Shanghai')).toBe('2026-11-28T00:00:00+08:00');
    expect(isoWithOffset(ms('2026-11-27T16:00:00.001Z'), 'America/New_York')).toBe('2026-11-27T11:00:00-05:00');
  });

  it('round-trips: the string parses back to the same second', () => {
    for (const tz of ['UTC', 'Asia/Shanghai', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata']) {
      for (const instant of ['2026-03-08T07:30:00Z', '2026-11-01T06:30:00Z', '2026-10-25T01:30:00Z', '2026-11-27T16:00:00Z']) {
        expect(Date.parse(isoWithOffset(ms(instant), tz)), `${instant} in ${tz}`).toBe(ms(instant));
      }
    }
  });
});
