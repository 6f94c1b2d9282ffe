import { describe as group, expect, it } from 'vitest';
import { classify, describe, SWITCH_STATUSES, type TryOutcome, type Verdict } from '../../src/upstream/classify.js';
import { parseRetryAfter } from '../../src/routing/provider-says.js';
import { summarize } from '../../src/server/proxied.js';

const status = (s: number): TryOutcome => ({ kind: 'status', status: s });
const network = (code: string): TryOutcome => ({ kind: 'network', code });

group('classify and describe (SPEC §3)', () => {
  // 2xx success; 5xx / transient network / invalid retry; deterministic network failures switch; 401/403/429 switch; 3xx switch (never followed); other 4xx return.
  const table: Array<[string, TryOutcome, Verdict, string]> = [
    ['200', status(200), 'success', '200'],
    ['201', status(201), 'success', '201'],
    ['204', status(204), 'success', '204'],
    ['299', status(299), 'success', '299'],
    ['301', status(301), 'switch', '301'],
    ['302', status(302), 'switch', '302'],
    ['307', status(307), 'switch', '307'],
    ['308', status(308), 'switch', '308'],
    ['400', status(400), 'return', '400'],
    ['401', status(401), 'switch', '401'],
    ['403', status(403), 'switch', '403'],
    ['404', status(404), 'return', '404'],
    ['408', status(408), 'return', '408'],
    ['409', status(409), 'return', '409'],
    ['413', status(413), 'return', '413'],
    ['422', status(422), 'return', '422'],
    ['429', status(429), 'switch', '429'],
    ['500', status(500), 'retry', '500'],
    ['502', status(502), 'retry', '502'],
    ['503', status(503), 'retry', '503'],
    ['504', status(504), 'retry', '504'],
    ['599', status(599), 'retry', '599'],
    ['ECONNREFUSED', network('ECONNREFUSED'), 'retry', 'connection refused'],
    ['ECONNRESET', network('ECONNRESET'), 'retry', 'connection reset'],
    ['UND_ERR_HEADERS_TIMEOUT', network('UND_ERR_HEADERS_TIMEOUT'), 'retry', 'timeout'],
    ['UND_ERR_BODY_TIMEOUT', network('UND_ERR_BODY_TIMEOUT'), 'retry', 'timeout'],
    ['UND_ERR_SOCKET', network('UND_ERR_SOCKET'), 'retry', 'connection closed'],
    ['UND_ERR_CONNECT_TIMEOUT', network('UND_ERR_CONNECT_TIMEOUT'), 'retry', 'connect timeout'],
    ['ENOTFOUND', network('ENOTFOUND'), 'switch', 'host not found'],
    ['EAI_AGAIN', network('EAI_AGAIN'), 'retry', 'host not found'],
    ['too large', network('UND_ERR_RES_EXCEEDED_MAX_SIZE'), 'switch', 'response too large'],
    ['error event', network('UPSTREAM_STREAM_ERROR'), 'switch', 'error event in stream'],
    ['endless prelude', network('UPSTREAM_PRELUDE_TOO_LARGE'), 'switch', 'no data before the limit'],
    ['first token timeout', network('UPSTREAM_FIRST_TOKEN_TIMEOUT'), 'switch', 'first token timeout'],
    ['truncated stream', network('UPSTREAM_STREAM_TRUNCATED'), 'retry', 'truncated stream'],
    ['bad certificate', network('CERT_HAS_EXPIRED'), 'switch', 'TLS certificate error'],
    ['ETIMEDOUT', network('ETIMEDOUT'), 'retry', 'timeout'],
    ['unknown network code', network('E_SOMETHING_NEW'), 'retry', 'network error'],
    ['empty network code', network(''), 'retry', 'network error'],
    ['invalid 2xx body', { kind: 'invalid' }, 'retry', 'invalid response'],
  ];

  it.each(table)('%s → %s / %s', (_label, outcome, verdict, words) => {
    expect(classify(outcome)).toBe(verdict);
    expect(describe(outcome)).toBe(words);
  });

  it('every status 100..599 has the verdict of its class', () => {
    for (let s = 100; s <= 599; s++) {
      const expected: Verdict =
        s >= 200 && s < 300 ? 'success' : s >= 500 ? 'retry' : s === 401 || s === 403 || s === 429 ? 'switch' : s >= 400 ? 'return' : 'switch';
      expect([s, classify(status(s))]).toEqual([s, expected]);
    }
  });

  it('SWITCH_STATUSES is exactly 401, 403, 429', () => {
    expect([...SWITCH_STATUSES].sort()).toEqual([401, 403, 429]);
  });

  it('network descriptions never carry a host, an IP or a port', () => {
    const codes = [
      'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
      'ENETUNREACH', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
      'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RES_EXCEEDED_MAX_SIZE', 'UND_ERR_INFO', 'connect ECONNREFUSED 10.0.0.1:443',
    ];
    for (const code of codes) {
      const words = describe(network(code));
      expect(words).toMatch(/^[a-z ]+$/);
      expect(words).not.toMatch(/\d|:|\.|localhost|example/);
    }
    // An odd code that itself carries an address falls back to the generic words.
    expect(describe(network('connect ECONNREFUSED 10.0.0.1:443'))).toBe('network error');
  });
});

group('parseRetryAfter', () => {
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');

  it.each([
    ['0', 0],
    ['5', 5_000],
    [' 120 ', 120_000],
    ['3600', 3_600_000],
    ['Wed, 21 Oct 2015 07:29:00 GMT', 60_000],
    ['Wed, 21 Oct 2015 07:28:30 GMT', 30_000],
    ['Wed, 21 Oct 2015 07:28:00 GMT', 0],
    ['Wed, 21 Oct 2015 07:00:00 GMT', 0],
    ['', null],
    ['   ', null],
    ['garbage', null],
    ['soon', null],
    ['12abc', null],
    ['0x10', null],
    ['1e3', null],
  ] as const)('%j → %s ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it('an HTTP-date is measured from the `now` it is given, not the clock', () => {
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:01:40 GMT', 40_000)).toBe(60_000);
  });

  // Date.parse alone reads "-5" as a date long past, which would cool a 429'd provider for 0 ms.
  it('values that are neither delay-seconds nor an HTTP-date ("-5", "abc 1", "1.") → null; decimal seconds ("1.5") are read', () => {
    expect(['-5', 'abc 1', '1.'].map((v) => parseRetryAfter(v, now))).toEqual([null, null, null]);
    expect(parseRetryAfter('1.5', now)).toBe(1500);
  });
});

group('summarize', () => {
  it.each([
    [[], 'nothing'],
    [[{ provider: 'primary', result: '503', ms: 10 }], 'primary (503)'],
    [
      [
        { provider: 'primary', result: '503', ms: 10 },
        { provider: 'primary', result: '503', ms: 11 },
        { provider: 'primary', result: 'timeout', ms: 12 },
        { provider: 'backup', result: 'connection refused', ms: 1 },
      ],
      'primary (503, 503, timeout), backup (connection refused)',
    ],
    [
      [
        { provider: 'b', result: '429', ms: 1 },
        { provider: 'a', result: '401', ms: 1 },
        { provider: 'b', result: '500', ms: 1 },
      ],
      'b (429, 500), a (401)',
    ],
  ])('%j → %s', (attempts, expected) => {
    expect(summarize(attempts)).toBe(expected);
  });
});
