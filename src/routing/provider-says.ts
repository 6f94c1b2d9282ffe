/**
 * How long a provider that refused asked not to be called (SPEC §9), from its own headers:
 * `retry-after-ms`, `Retry-After`, OpenAI's `x-ratelimit-reset-*` durations (`1s`, `6m0s`) and
 * Anthropic's `anthropic-ratelimit-*-reset` timestamps. Pure: `now` is passed in. Every value is
 * a provider's (an untrusted upstream's) text: capped before it is read, results bounded.
 */
export interface ProviderWait {
  ms: number;
  source: 'retry-after-ms' | 'retry-after' | 'x-ratelimit-reset' | 'anthropic-ratelimit-reset' | 'retry-info';
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** Statuses whose headers can say when to come back: rate limited, unavailable, overloaded. */
const WAIT_STATUSES: ReadonlySet<number> = new Set([429, 503, 529]);
const MAX_VALUE = 128;
const MAX_WAIT_MS = 7 * 24 * 3600_000;

export function waitFromHeaders(status: number, headers: Headers, now: number): ProviderWait | null {
  if (!WAIT_STATUSES.has(status)) return null;
  const ms = value(headers, 'retry-after-ms');
  if (ms !== null && /^\d+(\.\d+)?$/.test(ms)) return wait(Number(ms), 'retry-after-ms');
  const ra = value(headers, 'retry-after');
  const raMs = ra === null ? null : parseRetryAfter(ra, now);
  if (raMs !== null) return wait(raMs, 'retry-after');
  const openai = fromResets(headers, ['requests', 'tokens'], (k) => `x-ratelimit-reset-${k}`, (k) => `x-ratelimit-remaining-${k}`, parseResetDuration);
  if (openai !== null) return wait(openai, 'x-ratelimit-reset');
  const kinds = ['requests', 'tokens', 'input-tokens', 'output-tokens'];
  const anthropic = fromResets(headers, kinds, (k) => `anthropic-ratelimit-${k}-reset`, (k) => `anthropic-ratelimit-${k}-remaining`, (v) => parseResetAt(v, now));
  if (anthropic !== null) return wait(anthropic, 'anthropic-ratelimit-reset');
  return null;
}

/**
 * An RFC 3339 timestamp (`2026-11-28T21:00:05Z`, `…05.5+01:00`) as ms from `now`, 0 when past. The
 * offset is required: Date.parse reads a time without one in the machine's local zone.
 */
function parseResetAt(v: string, now: number): number | null {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)$/i.test(v)) return null;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

/**
 * The wait from a family of reset headers: the longest of the limits marked exhausted (remaining
 * 0); when none is marked, the shortest given (the least harmful guess).
 */
function fromResets(headers: Headers, kinds: readonly string[], reset: (k: string) => string, remaining: (k: string) => string, parse: (v: string) => number | null): number | null {
  let exhausted: number | null = null;
  let shortest: number | null = null;
  for (const k of kinds) {
    const v = value(headers, reset(k));
    const ms = v === null ? null : parse(v);
    if (ms === null) continue;
    if (value(headers, remaining(k)) === '0') exhausted = Math.max(exhausted ?? 0, ms);
    shortest = shortest === null ? ms : Math.min(shortest, ms);
  }
  return exhausted ?? shortest;
}

/** `1s`, `6m0s`, `20ms`, `1h2m3.5s`, `0.5s`, `2m` in ms; null when unreadable. Linear: one pass, no backtracking. */
export function parseResetDuration(v: string): number | null {
  if (v.length === 0 || v.length > MAX_VALUE) return null;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;
  let total = 0;
  let at = 0;
  while (at < v.length) {
    re.lastIndex = at;
    const m = re.exec(v);
    if (!m) return null;
    const n = Number(m[1]);
    total += m[2] === 'h' ? n * 3600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
    at = re.lastIndex;
  }
  return Number.isFinite(total) ? total : null;
}

/** `Retry-After` as seconds (whole or decimal) or an HTTP date, in ms; null when absent or unreadable. */
export function parseRetryAfter(value: string, now: number): number | null {
  const v = value.trim();
  if (v.length > MAX_VALUE) return null;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  // Otherwise only an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`, or the obsolete
  // `Wednesday, 21-Oct-15 07:28:00 GMT` and `Wed Oct 21 07:28:00 2015`), each starting with a day
  // name: Date.parse alone would read "-5" as a date long past.
  if (!/^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)(?:day|sday|nesday|rsday|urday)?,? /.test(v)) return null;
  // An HTTP-date is always GMT; asctime's form names no zone, and Date.parse would read it as local.
  const at = Date.parse(/(?:GMT|UTC|Z|[+-]\d{4})$/i.test(v) ? v : `${v} GMT`);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

function value(headers: Headers, name: string): string | null {
  const raw = headers[name];
  const v = Array.isArray(raw) ? raw[0] : raw;
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_VALUE ? v.trim() : null;
}

function wait(ms: number, source: ProviderWait['source']): ProviderWait | null {
  if (!Number.isFinite(ms) || ms < 0) return null;
  return { ms: Math.min(Math.round(ms), MAX_WAIT_MS), source };
}
