import { afterEach, describe, expect, it } from 'vitest';
import { parseResetDuration, parseRetryAfter, waitFromHeaders } from '../../src/routing/provider-says.js';

// SPEC §9, health from the provider's own words: how long a refusing provider asked not to be called.
const now = Date.parse('2026-11-28T21:00:00Z');
const at = (ms: number): string => new Date(now + ms).toISOString().replace('.000Z', 'Z');
const WEEK = 7 * 24 * 3600_000;

describe('parseResetDuration (OpenAI x-ratelimit-reset-*)', () => {
  it.each([
    ['1s', 1_000],
    ['6m0s', 360_000],
    ['20ms', 20],
    ['1h2m3.5s', 3_723_500],
    ['0.5s', 500],
    ['2m', 120_000],
    ['0s', 0],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['1m20ms', 60_020],
  ] as const)('%j → %s ms', (value, expected) => {
    expect(parseResetDuration(value)).toBe(expected);
  });

  it.each(['', 'abc', '1x', '-1s', '1s2', 's', '1.s', '.5s', ' 1s', '1 s', '1e3s', 'Infinitys', 'NaNs', '1S'])('%j is unreadable → null', (value) => {
    expect(parseResetDuration(value)).toBeNull();
  });

  it('reads up to 128 characters and nothing longer', () => {
    expect(parseResetDuration('1s'.repeat(64))).toBe(64_000); // 128 chars
    expect(parseResetDuration('1s'.repeat(64) + '1')).toBeNull(); // 129 chars
    expect(parseResetDuration('1'.repeat(127) + 'x')).toBeNull();
  });
});

describe('parseRetryAfter', () => {
  const tz = process.env.TZ;
  afterEach(() => {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  });

  it.each([
    ['0', 0],
    ['5', 5_000],
    [' 120 ', 120_000],
    ['1.5', 1_500],
    ['0.25', 250],
    ['Sat, 28 Nov 2026 21:01:00 GMT', 60_000],
    ['Sat, 28 Nov 2026 21:00:30 GMT', 30_000],
    ['Sat, 28 Nov 2026 21:00:00 GMT', 0],
    ['Sat, 28 Nov 2026 20:00:00 GMT', 0], // a date in the past: come back now
    ['Saturday, 28-Nov-26 21:00:10 GMT', 10_000], // RFC 850
    ['Sat Nov 28 21:00:20 2026', 20_000], // asctime, GMT by definition
  ] as const)('%j → %s ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it.each(['', '   ', '-5', '-1.5', '1.', '.5', 'abc', 'abc 1', '12abc', '0x10', '1e3', 'Infinity', 'NaN', 'soon', 'Monkey, 28 Nov 2026 21:01:00 GMT', '28 Nov 2026 21:01:00 GMT', '2026-11-28T21:01:00Z', 'Sat, garbage'])(
    '%j is unreadable → null',
    (value) => {
      expect(parseRetryAfter(value, now)).toBeNull();
    },
  );

  it('an HTTP-date is measured from the `now` it is given, not the clock', () => {
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:01:40 GMT', 40_000)).toBe(60_000);
  });

  it('a date without a zone (asctime) is GMT whatever the machine zone', () => {
    process.env.TZ = 'America/New_York';
    expect(parseRetryAfter('Sat Nov 28 21:00:20 2026', now)).toBe(20_000);
  });

  it('a value longer than 128 characters is not read', () => {
    expect(parseRetryAfter('0'.repeat(127) + '5', now)).toBe(5_000);
    expect(parseRetryAfter('0'.repeat(128) + '5', now)).toBeNull();
  });
});

describe('waitFromHeaders', () => {
  const tz = process.env.TZ;
  afterEach(() => {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  });

  it('only 429, 503 and 529 are read; any other status says nothing', () => {
    const h = { 'retry-after': '7' };
    expect([429, 503, 529].map((s) => waitFromHeaders(s, h, now))).toEqual([
      { ms: 7_000, source: 'retry-after' },
      { ms: 7_000, source: 'retry-after' },
      { ms: 7_000, source: 'retry-after' },
    ]);
    expect([200, 400, 401, 403, 500, 502, 504].map((s) => waitFromHeaders(s, h, now))).toEqual([null, null, null, null, null, null, null]);
  });

  it('no usable header → null', () => {
    expect(waitFromHeaders(429, {}, now)).toBeNull();
    expect(waitFromHeaders(429, { 'retry-after': 'soon', 'x-ratelimit-reset-requests': '1x', 'anthropic-ratelimit-requests-reset': 'later' }, now)).toBeNull();
    expect(waitFromHeaders(429, { 'retry-after': undefined, 'retry-after-ms': [] }, now)).toBeNull();
  });

  describe('retry-after-ms, then Retry-After', () => {
    it('retry-after-ms (decimal ms) wins over every other header', () => {
      expect(
        waitFromHeaders(
          429,
          { 'retry-after-ms': '250', 'retry-after': '5', 'x-ratelimit-reset-requests': '1s', 'anthropic-ratelimit-requests-reset': at(2_000) },
          now,
        ),
      ).toEqual({ ms: 250, source: 'retry-after-ms' });
      expect(waitFromHeaders(429, { 'retry-after-ms': '1500.4' }, now)).toEqual({ ms: 1_500, source: 'retry-after-ms' });
    });

    it.each(['soon', '-1', '1e3', 'NaN', 'Infinity', ''])('an unreadable retry-after-ms (%j) falls back to Retry-After', (ms) => {
      expect(waitFromHeaders(429, { 'retry-after-ms': ms, 'retry-after': '5' }, now)).toEqual({ ms: 5_000, source: 'retry-after' });
    });

    it('Retry-After as decimal seconds and as an HTTP-date relative to `now`', () => {
      expect(waitFromHeaders(503, { 'retry-after': '1.5' }, now)).toEqual({ ms: 1_500, source: 'retry-after' });
      expect(waitFromHeaders(503, { 'retry-after': 'Sat, 28 Nov 2026 21:00:42 GMT' }, now)).toEqual({ ms: 42_000, source: 'retry-after' });
      expect(waitFromHeaders(503, { 'retry-after': 'Sat, 28 Nov 2026 21:00:42 GMT' }, now + 40_000)).toEqual({ ms: 2_000, source: 'retry-after' });
      expect(waitFromHeaders(503, { 'retry-after': 'Fri, 27 Nov 2026 21:00:00 GMT' }, now)).toEqual({ ms: 0, source: 'retry-after' });
    });

    it('Retry-After wins over the rate-limit reset headers', () => {
      expect(waitFromHeaders(429, { 'retry-after': '3', 'x-ratelimit-reset-requests': '1s', 'anthropic-ratelimit-requests-reset': at(2_000) }, now)).toEqual({
        ms: 3_000,
        source: 'retry-after',
      });
    });

    it('a negative or non-date Retry-After is unreadable and the next rule is used', () => {
      expect(waitFromHeaders(429, { 'retry-after': '-5', 'x-ratelimit-reset-tokens': '20ms' }, now)).toEqual({ ms: 20, source: 'x-ratelimit-reset' });
      expect(waitFromHeaders(429, { 'retry-after': '-5' }, now)).toBeNull();
    });
  });

  describe('OpenAI x-ratelimit-reset-*', () => {
    it('without remaining headers, the shortest reset given', () => {
      expect(waitFromHeaders(429, { 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' }, now)).toEqual({ ms: 1_000, source: 'x-ratelimit-reset' });
      expect(waitFromHeaders(429, { 'x-ratelimit-reset-requests': '6m0s', 'x-ratelimit-reset-tokens': '0.5s' }, now)).toEqual({ ms: 500, source: 'x-ratelimit-reset' });
      expect(waitFromHeaders(429, { 'x-ratelimit-reset-tokens': '1h2m3.5s' }, now)).toEqual({ ms: 3_723_500, source: 'x-ratelimit-reset' });
    });

    it('the exhausted limit (remaining 0) is used, even when it is the longer one', () => {
      const h = {
        'x-ratelimit-reset-requests': '1s',
        'x-ratelimit-remaining-requests': '12',
        'x-ratelimit-reset-tokens': '6m0s',
        'x-ratelimit-remaining-tokens': '0',
      };
      expect(waitFromHeaders(429, h, now)).toEqual({ ms: 360_000, source: 'x-ratelimit-reset' });
    });

    it('of several exhausted limits the longest; a limit that is not exhausted is not counted', () => {
      expect(
        waitFromHeaders(
          429,
          { 'x-ratelimit-reset-requests': '20s', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-tokens': '2m', 'x-ratelimit-remaining-tokens': '0' },
          now,
        ),
      ).toEqual({ ms: 120_000, source: 'x-ratelimit-reset' });
      expect(
        waitFromHeaders(
          429,
          { 'x-ratelimit-reset-requests': '20s', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-tokens': '2m', 'x-ratelimit-remaining-tokens': '100' },
          now,
        ),
      ).toEqual({ ms: 20_000, source: 'x-ratelimit-reset' });
    });

    it('remaining headers present but none at 0: the shortest reset', () => {
      const h = {
        'x-ratelimit-reset-requests': '2m',
        'x-ratelimit-remaining-requests': '3',
        'x-ratelimit-reset-tokens': '20s',
        'x-ratelimit-remaining-tokens': '4000',
      };
      expect(waitFromHeaders(429, h, now)).toEqual({ ms: 20_000, source: 'x-ratelimit-reset' });
    });

    it('OpenAI resets win over Anthropic resets', () => {
      expect(waitFromHeaders(429, { 'x-ratelimit-reset-requests': '2m', 'anthropic-ratelimit-requests-reset': at(5_000) }, now)).toEqual({
        ms: 120_000,
        source: 'x-ratelimit-reset',
      });
    });
  });

  describe('Anthropic anthropic-ratelimit-*-reset', () => {
    it('an RFC 3339 timestamp is measured from `now`', () => {
      expect(waitFromHeaders(429, { 'anthropic-ratelimit-requests-reset': '2026-11-28T21:00:05Z' }, now)).toEqual({ ms: 5_000, source: 'anthropic-ratelimit-reset' });
      expect(waitFromHeaders(429, { 'anthropic-ratelimit-requests-reset': '2026-11-28T21:00:05Z' }, now + 1_000)).toEqual({
        ms: 4_000,
        source: 'anthropic-ratelimit-reset',
      });
      expect(waitFromHeaders(529, { 'anthropic-ratelimit-tokens-reset': '2026-11-28T22:00:05.5+01:00' }, now)).toEqual({
        ms: 5_500,
        source: 'anthropic-ratelimit-reset',
      });
      expect(waitFromHeaders(429, { 'anthropic-ratelimit-tokens-reset': '2026-11-28T20:59:00Z' }, now)).toEqual({ ms: 0, source: 'anthropic-ratelimit-reset' });
    });

    it('without remaining headers, the soonest reset', () => {
      const h = {
        'anthropic-ratelimit-requests-reset': at(60_000),
        'anthropic-ratelimit-tokens-reset': at(8_000),
        'anthropic-ratelimit-input-tokens-reset': at(30_000),
        'anthropic-ratelimit-output-tokens-reset': at(90_000),
      };
      expect(waitFromHeaders(429, h, now)).toEqual({ ms: 8_000, source: 'anthropic-ratelimit-reset' });
    });

    it('the longest of the exhausted limits (remaining 0), for each of the four kinds', () => {
      const h = {
        'anthropic-ratelimit-requests-reset': at(60_000),
        'anthropic-ratelimit-requests-remaining': '40',
        'anthropic-ratelimit-tokens-reset': at(8_000),
        'anthropic-ratelimit-tokens-remaining': '0',
        'anthropic-ratelimit-input-tokens-reset': at(30_000),
        'anthropic-ratelimit-input-tokens-remaining': '0',
        'anthropic-ratelimit-output-tokens-reset': at(90_000),
        'anthropic-ratelimit-output-tokens-remaining': '1000',
      };
      expect(waitFromHeaders(429, h, now)).toEqual({ ms: 30_000, source: 'anthropic-ratelimit-reset' });
      expect(waitFromHeaders(429, { ...h, 'anthropic-ratelimit-output-tokens-remaining': '0' }, now)).toEqual({ ms: 90_000, source: 'anthropic-ratelimit-reset' });
      expect(waitFromHeaders(429, { ...h, 'anthropic-ratelimit-input-tokens-remaining': '7' }, now)).toEqual({ ms: 8_000, source: 'anthropic-ratelimit-reset' });
    });

    it('a timestamp that is not RFC 3339 with an offset is ignored', () => {
      process.env.TZ = 'America/New_York'; // where a zone-less time would be read 5 hours late
      for (const v of ['2026-11-28T21:00:05', '2026-11-28', 'Sat, 28 Nov 2026 21:00:05 GMT', '5', '-5', '2026-11-28T21:00:05Zjunk']) {
        expect(waitFromHeaders(429, { 'anthropic-ratelimit-requests-reset': v }, now), v).toBeNull();
      }
    });
  });

  describe('hostile and odd values', () => {
    it('an array value: the first is read', () => {
      expect(waitFromHeaders(429, { 'retry-after': ['2', '9'] }, now)).toEqual({ ms: 2_000, source: 'retry-after' });
      expect(waitFromHeaders(429, { 'x-ratelimit-reset-tokens': ['20ms', '6m0s'] }, now)).toEqual({ ms: 20, source: 'x-ratelimit-reset' });
      expect(
        waitFromHeaders(
          429,
          {
            'x-ratelimit-reset-requests': '20s',
            'x-ratelimit-remaining-requests': ['0', '5'],
            'x-ratelimit-reset-tokens': '2s',
          },
          now,
        ),
      ).toEqual({ ms: 20_000, source: 'x-ratelimit-reset' });
    });

    it('a value longer than 128 characters is ignored and the next rule used', () => {
      expect(waitFromHeaders(429, { 'retry-after-ms': '0'.repeat(125) + '250', 'retry-after': '5' }, now)).toEqual({ ms: 250, source: 'retry-after-ms' });
      expect(waitFromHeaders(429, { 'retry-after-ms': '0'.repeat(126) + '250', 'retry-after': '5' }, now)).toEqual({ ms: 5_000, source: 'retry-after' });
      expect(waitFromHeaders(429, { 'retry-after': ' '.repeat(128) + '5', 'x-ratelimit-reset-tokens': '2m' }, now)).toEqual({ ms: 120_000, source: 'x-ratelimit-reset' });
      expect(waitFromHeaders(429, { 'x-ratelimit-reset-tokens': '1s'.repeat(65) }, now)).toBeNull();
      expect(waitFromHeaders(429, { 'anthropic-ratelimit-requests-reset': at(5_000) + ' '.repeat(120) }, now)).toBeNull();
    });

    it('results are clamped to 7 days', () => {
      expect(waitFromHeaders(429, { 'retry-after-ms': '9'.repeat(100) }, now)).toEqual({ ms: WEEK, source: 'retry-after-ms' });
      expect(waitFromHeaders(429, { 'retry-after': '99999999' }, now)).toEqual({ ms: WEEK, source: 'retry-after' });
      expect(waitFromHeaders(429, { 'retry-after': String(WEEK / 1000 - 1) }, now)).toEqual({ ms: WEEK - 1_000, source: 'retry-after' });
      expect(waitFromHeaders(429, { 'x-ratelimit-reset-requests': '9999h' }, now)).toEqual({ ms: WEEK, source: 'x-ratelimit-reset' });
      expect(waitFromHeaders(429, { 'anthropic-ratelimit-requests-reset': '2099-01-01T00:00:00Z' }, now)).toEqual({ ms: WEEK, source: 'anthropic-ratelimit-reset' });
    });

    it('a long adversarial duration is refused quickly', () => {
      const started = performance.now();
      for (let i = 0; i < 2_000; i++) {
        expect(waitFromHeaders(429, { 'x-ratelimit-reset-requests': '1'.repeat(127) + 'x' }, now)).toBeNull();
        expect(parseResetDuration('1.' + '1'.repeat(10_000))).toBeNull();
      }
      expect(performance.now() - started).toBeLessThan(1_000);
    });
  });
});
