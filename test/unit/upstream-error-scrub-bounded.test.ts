import { describe, expect, it } from 'vitest';
import { MAX_SCRUBBED_CHARS, sanitizeUpstreamError, scrub } from '../../src/upstream/sanitize.js';

const SECRET = 'sk-live-config-secret-0123456789';
const HOST = 'internal.provider.example';

/** Shapes that make a backtracking pattern try every start against the whole rest of the text. */
const N = 120_000;
const adversarial: Array<[string, string]> = [
  ['a.a.a.…', 'a.'.repeat(N / 2)],
  ['one long run of letters', 'a'.repeat(N)],
  ['sk- repeated', 'sk-'.repeat(N / 3)],
  ['sk_ repeated', 'sk_'.repeat(N / 3)],
  ['digits and dots', '1.'.repeat(N / 2)],
  ['an address and a long port that never ends', `1.2.3.4:${'9'.repeat(N)}x`],
  ['a.b: repeated (scheme then colon, no //)', 'a.b:'.repeat(N / 4)],
  ['stars', 'a*'.repeat(N / 2)],
  ['hex that never ends on a boundary', `${'f'.repeat(N)}g`],
  ['base64-ish with dashes', 'a-'.repeat(N / 2)],
  ['an IPv6 bracket that never closes', `[${':'.repeat(N)}`],
];

function timed<T>(fn: () => T): { value: T; ms: number } {
  const t = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t };
}

describe('the upstream-error scrubber is bounded in time and size', () => {
  // The patterns themselves, without the length cap: linear ones take tens of ms on 120 KB, a
  // quadratic one takes seconds (the scheme of the URL pattern took 9 s on `a.a.a.…`).
  it.each(adversarial)('every pattern is linear on %s (uncapped, 120 KB)', (_name, text) => {
    scrub(text.slice(0, 1000), [SECRET], [HOST], Infinity); // warm up the regex compiler
    const { ms } = timed(() => scrub(text, [SECRET], [HOST], Infinity));
    expect(ms).toBeLessThan(250);
  });

  it.each(adversarial)('an error answer whose message is %s is cut and scrubbed quickly', (_name, text) => {
    const body = Buffer.from(JSON.stringify({ error: { message: text, type: text, param: text, code: text } }));
    const { value, ms } = timed(() => sanitizeUpstreamError(body, 400, [SECRET], [HOST]));
    expect(ms).toBeLessThan(50);
    const e = (JSON.parse(value.toString('utf8')) as { error: Record<string, string> }).error;
    for (const field of ['message', 'type', 'param', 'code']) {
      expect(e[field]!.length).toBeLessThanOrEqual(MAX_SCRUBBED_CHARS + 1);
    }
  });

  it('a long message keeps its beginning, ends with an ellipsis, and is scrubbed', () => {
    const text = `Invalid value for temperature at https://${HOST}/v1 from 10.1.2.3:8443 with ${SECRET}. ${'padding '.repeat(20_000)}`;
    const out = scrub(text, [SECRET], [HOST]);
    expect(out.startsWith('Invalid value for temperature at [url] from [host] with [redacted].')).toBe(true);
    expect(out.endsWith('…')).toBe(true);
    expect(out.length).toBeLessThanOrEqual(MAX_SCRUBBED_CHARS + 1);
  });

  // A key, host or address split by the cut would no longer be recognised: the split word goes.
  it.each([
    ['a configured secret', SECRET],
    ['a configured host', HOST],
    ['an IPv4 address', '10.123.45.67'],
    ['a key-shaped word', 'sk-proj-abcdefghijklmnop'],
  ])('%s cut by the length cap at any point leaves no fragment', (_name, value) => {
    for (let shift = 1; shift < value.length; shift++) {
      const head = 'x '.repeat(MAX_SCRUBBED_CHARS).slice(0, MAX_SCRUBBED_CHARS - shift);
      const out = scrub(`${head}${value} and more text after it`, [SECRET], [HOST]);
      expect(out.endsWith('…')).toBe(true);
      // Nothing but the filler survives before the ellipsis.
      expect(out.slice(0, -1)).toMatch(/^[x ]*$/);
    }
  });

  // A configured secret may hold a space (a header value such as "Token abc…"); half of it is still cut.
  it('a configured secret with a space, cut by the cap at any point, leaves none of it', () => {
    const secret = 'Token zq8-PRIVATE-phrase';
    for (let shift = 1; shift < secret.length; shift++) {
      const head = 'y '.repeat(MAX_SCRUBBED_CHARS).slice(0, MAX_SCRUBBED_CHARS - shift);
      const out = scrub(`${head}${secret} tail`, [secret], []);
      expect(out.endsWith('…')).toBe(true);
      expect(out.slice(0, -1)).toMatch(/^[y ]*$/);
    }
  });

  it('short messages are scrubbed as before and not cut', () => {
    const text = `See https://${HOST}/v1/docs; upstream 10.1.2.3:8443 ([fe80::1]:443) key ${SECRET}, known as sk-proj-****cdef, host ${HOST.toUpperCase()}.`;
    expect(scrub(text, [SECRET], [HOST])).toBe('See [url] upstream [host] ([host]) key [redacted], known as [redacted], host [host].');
  });
});
