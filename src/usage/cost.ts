import { calcPrice, findProvider, type ModelInfo, type ModelPrice } from '@pydantic/genai-prices';

/** USD per million tokens (SPEC §8). */
export interface Price {
  input: number;
  output: number;
  cached_input: number;
}

/** Token counts of one request; `prompt` includes the `cached` ones, as OpenAI reports them. */
export interface CostTokens {
  prompt: number;
  completion: number;
  cached: number;
}

const MAX = Number.MAX_SAFE_INTEGER;

/** A non-negative finite number as an exact decimal `m × 10^-d`, read from its shortest round-trip form. */
interface Decimal {
  m: bigint;
  d: number;
}

function decimal(n: number): Decimal {
  const match = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(n));
  if (!match) return { m: 0n, d: 0 };
  const frac = match[2] ?? '';
  const exp = Number(match[3] ?? 0) - frac.length;
  const m = BigInt((match[1] ?? '0') + frac);
  return exp >= 0 ? { m: m * 10n ** BigInt(exp), d: 0 } : { m, d: -exp };
}

/** x × 10^e rounded half up to an integer (x ≥ 0), clamped to a safe integer. */
function scale(x: bigint, e: number): number {
  let r: bigint;
  if (e >= 0) r = x * 10n ** BigInt(e);
  else {
    const div = 10n ** BigInt(-e);
    r = (x + div / 2n) / div;
  }
  return r > BigInt(MAX) ? MAX : Number(r);
}

// Prices come from the validated config or the table, token counts from an upstream or an
// estimate: anything negative, NaN or infinite counts as nothing rather than poisoning a sum.
const count = (n: number): number => (Number.isFinite(n) && n > 0 ? Math.trunc(n) : 0);
const rate = (n: number): number => (Number.isFinite(n) && n > 0 ? n : 0);

/**
 * Cost in nano-USD (1e-9 USD) of `t` at `price`, as a safe integer: prices are read as exact
 * decimals (USD per million tokens × 1000 = nanos per token) so the sum is exact, and it is
 * rounded to the nearest nano once, at the end.
 */
export function costNanos(price: Price, t: CostTokens): number {
  const prompt = count(t.prompt);
  const cached = Math.min(count(t.cached), prompt);
  const completion = count(t.completion);
  // Fast path, every request: prices with at most 6 decimals are whole pico-dollars per token,
  // and the sum stays exact in a double while it is a safe integer.
  const pico = picosOf(price);
  if (pico !== null) {
    const sum = (prompt - cached) * pico[0] + cached * pico[1] + completion * pico[2];
    if (sum <= MAX) return Math.round(sum / 1000);
  }
  const terms: Array<[number, Decimal]> = [
    [prompt - cached, decimal(rate(price.input))],
    [cached, decimal(rate(price.cached_input))],
    [completion, decimal(rate(price.output))],
  ];
  const d = Math.max(...terms.map(([, p]) => p.d));
  let sum = 0n;
  for (const [tokens, p] of terms) sum += BigInt(tokens) * p.m * 10n ** BigInt(d - p.d);
  return scale(sum, 3 - d);
}

/** Pico-USD per token of each rate (input, cached input, output), when all are whole; computed once per price. */
const PICOS = new WeakMap<Price, readonly [number, number, number] | null>();

function picosOf(price: Price): readonly [number, number, number] | null {
  let p = PICOS.get(price);
  if (p === undefined) {
    const whole = (n: number): number | null => {
      const { m, d } = decimal(rate(n));
      if (d > 6) return null;
      const v = m * 10n ** BigInt(6 - d);
      return v > BigInt(MAX) ? null : Number(v);
    };
    const [a, b, c] = [whole(price.input), whole(price.cached_input), whole(price.output)];
    p = a === null || b === null || c === null ? null : [a, b, c];
    PICOS.set(price, p);
  }
  return p;
}

/**
 * Nanos as a USD JSON number. An integer divided by 1e9 is the double nearest the exact
 * decimal, so it prints with at most 9 decimals and no noise such as 0.30000000000000004.
 */
export function usd(nanos: number): number {
  return Math.round(nanos) / 1e9;
}

/** USD (e.g. a `cost_per_period`) as integer nanos, clamped to ±MAX_SAFE_INTEGER (about $9M); NaN is 0. */
export function nanosOfUsd(usd: number): number {
  if (Number.isNaN(usd)) return 0;
  if (usd < 0) return -nanosOfUsd(-usd) || 0;
  if (usd === Infinity) return MAX;
  const { m, d } = decimal(usd);
  return scale(m, 9 - d);
}

type ProviderType = 'openai' | 'azure' | 'anthropic' | 'gemini';

/**
 * The table's provider for a type when the endpoint's host is not one it knows (a proxy, a
 * custom domain). `openai` is the wire format of many vendors, so it says nothing: the model
 * name alone decides.
 */
const TYPE_HINT: Readonly<Record<ProviderType, string | undefined>> = {
  openai: undefined,
  azure: 'azure',
  anthropic: 'anthropic',
  gemini: 'google',
};

const MAX_MODEL_CHARS = 256;
const MEMO_MAX = 1000;
const memo = new Map<string, { day: number; price: Price | null }>();

/**
 * The maintained table's price (@pydantic/genai-prices, bundled data, never fetched) for the
 * upstream model name; null when the table does not know it. The endpoint's host picks the
 * table's provider (api.openai.com → openai, *.openai.azure.com → azure, api.deepseek.com →
 * deepseek, …, by the table's own URL patterns); for an unknown host the provider type is a
 * hint, then the model name alone. Prices tiered by prompt size give their base tier; dated
 * prices give today's; time-of-day windows (DeepSeek's peak hours) are ignored, so the price
 * does not depend on the hour the config was loaded. Never throws.
 */
export function tablePrice(upstreamModel: string, providerType: ProviderType, endpoint: string): Price | null {
  try {
    if (typeof upstreamModel !== 'string' || upstreamModel.length > MAX_MODEL_CHARS || upstreamModel.trim() === '') return null;
    const host = hostOf(endpoint);
    const key = `${String(providerType)}\n${host}\n${upstreamModel}`;
    // Dated prices change at UTC midnight: an entry from another day is recomputed.
    const now = Date.now();
    const day = Math.floor(now / 86_400_000);
    const hit = memo.get(key);
    if (hit && hit.day === day) return hit.price;
    const price = lookup(upstreamModel, providerType, host, new Date(now));
    memo.delete(key);
    if (memo.size >= MEMO_MAX) {
      const oldest = memo.keys().next();
      if (!oldest.done) memo.delete(oldest.value);
    }
    memo.set(key, { day, price });
    return price;
  } catch {
    return null;
  }
}

function hostOf(endpoint: string): string {
  if (typeof endpoint !== 'string' || endpoint.length > 2048) return '';
  for (const candidate of [endpoint, `https://${endpoint}`]) {
    try {
      return new URL(candidate).host.toLowerCase();
    } catch {
      // not a URL: try again with a scheme, else no host
    }
  }
  return '';
}

function lookup(model: string, type: ProviderType, host: string, now: Date): Price | null {
  const byHost = host ? findProvider({ providerApiUrl: `https://${host}/` }) : undefined;
  if (byHost) return priceOf(model, byHost.id, now);
  const hint = Object.hasOwn(TYPE_HINT, type) ? TYPE_HINT[type] : undefined;
  return (hint ? priceOf(model, hint, now) : null) ?? priceOf(model, undefined, now);
}

function priceOf(model: string, providerId: string | undefined, now: Date): Price | null {
  // Empty usage: only the match (provider, model) is wanted, not a computed total.
  const found = calcPrice({}, model, providerId ? { providerId, timestamp: now } : { timestamp: now });
  if (!found) return null;
  const prices = basePrices(found.model, now);
  if (!prices) return null;
  const input = base(prices['input_mtok']);
  if (input === null) return null;
  let output = base(prices['output_mtok']);
  // Input-only models (embeddings) cost nothing per output token; a model that prices its
  // output some other way (audio, images) is not one this gateway can price.
  if (output === null) {
    if (Object.keys(prices).some((k) => k.startsWith('output_') && prices[k] !== undefined)) return null;
    output = 0;
  }
  return Object.freeze({ input, output, cached_input: base(prices['cache_read_mtok']) ?? input });
}

/** The prices in force at `now` by date, ignoring time-of-day windows. */
function basePrices(model: ModelInfo, now: Date): ModelPrice | undefined {
  if (!Array.isArray(model.prices)) return model.prices;
  for (let i = model.prices.length - 1; i >= 0; i--) {
    const entry = model.prices[i];
    const c: unknown = entry?.constraint;
    if (c === undefined) return entry?.prices;
    if (typeof c === 'object' && c !== null && 'start_date' in c && typeof c.start_date === 'string') {
      const start = Date.parse(c.start_date);
      if (Number.isFinite(start) && now.getTime() >= start) return entry?.prices;
    }
  }
  return model.prices[0]?.prices;
}

/** A flat price, or the base (first) tier of one tiered by prompt size. */
function base(p: ModelPrice[string]): number | null {
  const v: unknown = typeof p === 'object' && p !== null ? p.base : p;
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;
}
