import { calcPrice, type ModelPrice } from '@pydantic/genai-prices';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { costNanos, nanosOfUsd, tablePrice, usd, type Price } from '../../src/usage/cost.js';

const MAX = Number.MAX_SAFE_INTEGER;

/** The base (first-tier) value of a table price, as the package reports it. */
function tableBase(p: ModelPrice[string]): number {
  const v = typeof p === 'object' ? p.base : p;
  if (typeof v !== 'number') throw new Error(`no price in the table: ${JSON.stringify(p)}`);
  return v;
}

/** What the package itself says for a model, at an instant (default: now). */
function packagePrice(model: string, providerId: string, at?: Date): Price {
  const r = calcPrice({}, model, at ? { providerId, timestamp: at } : { providerId });
  if (!r) throw new Error(`the table does not know ${providerId}/${model}`);
  const input = tableBase(r.model_price['input_mtok']);
  const cached = r.model_price['cache_read_mtok'];
  return { input, output: tableBase(r.model_price['output_mtok']), cached_input: cached === undefined ? input : tableBase(cached) };
}

describe('costNanos', () => {
  const mini: Price = { input: 0.15, output: 0.6, cached_input: 0.075 };

  it.each([
    // [price, tokens, nanos]
    [{ input: 2.5, output: 10, cached_input: 1.25 }, { prompt: 1000, completion: 100, cached: 0 }, 3_500_000],
    // 800 × 150 + 200 × 75 + 500 × 600 nanos.
    [mini, { prompt: 1000, completion: 500, cached: 200 }, 435_000],
    [mini, { prompt: 0, completion: 0, cached: 0 }, 0],
    [mini, { prompt: 1, completion: 0, cached: 0 }, 150],
    [mini, { prompt: 1, completion: 0, cached: 1 }, 75],
    [mini, { prompt: 0, completion: 1, cached: 0 }, 600],
    // Cached tokens cost their own rate even when it is higher than the input rate.
    [{ input: 1, output: 2, cached_input: 3 }, { prompt: 10, completion: 0, cached: 4 }, 6_000 + 12_000],
    [{ input: 1_000_000, output: 1_000_000, cached_input: 1_000_000 }, { prompt: 1, completion: 1, cached: 0 }, 2_000_000_000],
  ])('%j × %j = %i nanos', (price, t, nanos) => {
    expect(costNanos(price, t)).toBe(nanos);
  });

  it('clamps cached tokens to [0, prompt]', () => {
    expect(costNanos(mini, { prompt: 100, completion: 0, cached: 500 })).toBe(100 * 75);
    expect(costNanos(mini, { prompt: 100, completion: 0, cached: -50 })).toBe(100 * 150);
  });

  it('rounds the exact sum once, half up, instead of each term', () => {
    // 0.1 nano per token: five prompt and five completion tokens are one nano, not 1 + 1.
    expect(costNanos({ input: 0.0001, output: 0.0001, cached_input: 0.0001 }, { prompt: 5, completion: 5, cached: 0 })).toBe(1);
    expect(costNanos({ input: 0.0001, output: 0.0001, cached_input: 0.0001 }, { prompt: 4, completion: 0, cached: 0 })).toBe(0);
    // 1.6 + 1.6 = 3.2 nanos.
    expect(costNanos({ input: 0.0016, output: 0.0016, cached_input: 0.0016 }, { prompt: 1, completion: 1, cached: 0 })).toBe(3);
  });

  it('has no float drift where naive arithmetic rounds the wrong way', () => {
    // 3 × 4.5 = 13.5 nanos exactly; 3 * 0.0045 * 1000 is 13.499999999999998 in floats.
    expect(Math.round(3 * 0.0045 * 1000)).toBe(13);
    expect(costNanos({ input: 0.0045, output: 0, cached_input: 0 }, { prompt: 3, completion: 0, cached: 0 })).toBe(14);
    expect(costNanos({ input: 1, output: 1.0005, cached_input: 1 }, { prompt: 0, completion: 13, cached: 0 })).toBe(13_007);
    // Prices that print in exponent form.
    expect(costNanos({ input: 1e-7, output: 0, cached_input: 0 }, { prompt: 10_000_000, completion: 0, cached: 0 })).toBe(1_000);
    expect(costNanos({ input: 5e-7, output: 0, cached_input: 0 }, { prompt: 1_000, completion: 0, cached: 0 })).toBe(1);
  });

  it('always returns a safe integer', () => {
    const huge: Price = { input: 1_000_000, output: 1_000_000, cached_input: 1_000_000 };
    expect(costNanos(huge, { prompt: 1e12, completion: 1e12, cached: 0 })).toBe(MAX);
    for (const t of [
      { prompt: Number.NaN, completion: 1, cached: 0 },
      { prompt: -5, completion: Infinity, cached: Number.NaN },
      { prompt: 2.7, completion: 0.5, cached: 0 },
    ]) {
      const n = costNanos(mini, t);
      expect(Number.isSafeInteger(n)).toBe(true);
      expect(n).toBeGreaterThanOrEqual(0);
    }
    // Counts are whole tokens; nonsense counts count as none.
    expect(costNanos(mini, { prompt: 2.7, completion: 0.5, cached: 0 })).toBe(300);
    expect(costNanos(mini, { prompt: Number.NaN, completion: -1, cached: 0 })).toBe(0);
  });
});

describe('usd', () => {
  it.each([
    [1_234_567, 0.001234567, '0.001234567'],
    [300_000_000, 0.3, '0.3'],
    [0, 0, '0'],
    [1, 1e-9, '1e-9'],
    [20_000_000_000, 20, '20'],
    [123_456_789_012, 123.456789012, '123.456789012'],
  ])('%i nanos → %s USD', (nanos, dollars, json) => {
    expect(usd(nanos)).toBe(dollars);
    expect(JSON.stringify(usd(nanos))).toBe(json);
  });

  it('carries no float noise, unlike summing dollars', () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(usd(100_000_000 + 200_000_000)).toBe(0.3);
  });

  it('rounds to 9 decimals', () => {
    expect(usd(1.6)).toBe(2e-9);
    expect(usd(1_234_567.4)).toBe(0.001234567);
  });

  it('prints exactly the decimal of the nanos, for any integer up to ~$9M', () => {
    const exact = (n: number): string => {
      const s = String(n).padStart(10, '0');
      const frac = s.slice(-9).replace(/0+$/, '');
      const whole = s.slice(0, -9).replace(/^0+(?=\d)/, '');
      return frac ? `${whole}.${frac}` : whole;
    };
    let seed = 42;
    const next = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648);
    for (let i = 0; i < 5000; i++) {
      const n = (next() * 2_147_483_648 + next()) % 9_000_000_000_000_000;
      const s = String(usd(n));
      // Doubles hold 15-17 significant digits; up to 15 the shortest form is always the decimal itself.
      if (String(n).length <= 15) expect(s).toBe(exact(n));
      else expect(Number(s)).toBe(Number(exact(n)));
    }
  });
});

describe('nanosOfUsd', () => {
  it.each([
    [20, 20_000_000_000],
    [0, 0],
    [0.1, 100_000_000],
    [0.3, 300_000_000],
    [1e-9, 1],
    [1.5e-9, 2],
    [1.4e-9, 1],
    [4e-10, 0],
    [123.456789012, 123_456_789_012],
    [-2.5, -2_500_000_000],
  ])('%s USD → %i nanos', (dollars, nanos) => {
    expect(nanosOfUsd(dollars)).toBe(nanos);
  });

  it('reads the decimal exactly where usd × 1e9 drifts', () => {
    expect(Math.round(0.1260000005 * 1e9)).toBe(126_000_000);
    expect(nanosOfUsd(0.1260000005)).toBe(126_000_001);
  });

  it('clamps to a safe integer', () => {
    expect(nanosOfUsd(1e9)).toBe(MAX);
    expect(nanosOfUsd(Infinity)).toBe(MAX);
    expect(nanosOfUsd(-Infinity)).toBe(-MAX);
    expect(nanosOfUsd(Number.NaN)).toBe(0);
  });

  it('round-trips through usd', () => {
    for (const n of [0, 1, 999, 1_234_567, 20_000_000_000, 9_000_000_000_000_000]) expect(nanosOfUsd(usd(n))).toBe(n);
  });
});

describe('tablePrice', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it.each([
    // [upstream model, type, endpoint, the table's provider]
    ['gpt-4o', 'openai', 'https://api.openai.com/v1', 'openai'],
    ['gpt-4o-mini', 'openai', 'https://api.openai.com/v1', 'openai'],
    ['claude-sonnet-4-5', 'anthropic', 'https://api.anthropic.com', 'anthropic'],
    ['claude-sonnet-4-5-20250929', 'anthropic', 'https://api.anthropic.com/v1', 'anthropic'],
    ['gemini-2.5-flash', 'gemini', 'https://generativelanguage.googleapis.com/v1beta', 'google'],
    ['gemini-2.5-pro', 'gemini', 'https://generativelanguage.googleapis.com/v1beta', 'google'],
    ['deepseek-chat', 'openai', 'https://api.deepseek.com/v1', 'deepseek'],
    ['gpt-4o', 'azure', 'https://my-res.openai.azure.com/openai', 'azure'],
    // Unknown hosts: the type is a hint, else the model name alone decides.
    ['claude-sonnet-4-5', 'anthropic', 'https://llm-proxy.internal.example', 'anthropic'],
    ['gemini-2.5-flash', 'gemini', 'http://10.0.0.7:8080/v1beta', 'google'],
    ['gpt-4o-mini', 'openai', 'http://localhost:8000/v1', 'openai'],
    ['deepseek-chat', 'openai', 'https://reseller.example.com/v1', 'deepseek'],
    // Known to the table only through the hint (the model name alone matches no provider).
    ['gemma-2-27b-it', 'gemini', 'https://gemini-gateway.example.com', 'google'],
    ['phi-4', 'azure', 'https://apim.example.com/openai', 'azure'],
  ] as const)('%s (%s at %s) is priced as the table says for %s', (model, type, endpoint, providerId) => {
    const price = tablePrice(model, type, endpoint);
    // Today's prices, outside any time-of-day window (tablePrice ignores them: see below), so the
    // expectation does not depend on the hour the test runs (DeepSeek's peak is 00:30–16:30 UTC).
    const offPeakToday = new Date();
    offPeakToday.setUTCHours(20, 0, 0, 0);
    expect(price).toEqual(packagePrice(model, providerId, offPeakToday));
  });

  it('gives sane numbers for gpt-4o', () => {
    const p = tablePrice('gpt-4o', 'openai', 'https://api.openai.com/v1');
    expect(p).not.toBeNull();
    expect(p!.input).toBeGreaterThan(0);
    expect(p!.output).toBeGreaterThanOrEqual(p!.input);
    expect(p!.cached_input).toBeGreaterThan(0);
    expect(p!.cached_input).toBeLessThanOrEqual(p!.input);
  });

  it('takes the base tier of prices tiered by prompt size', () => {
    const raw = calcPrice({}, 'claude-sonnet-4-5', { providerId: 'anthropic' })?.model_price['input_mtok'];
    expect(typeof raw).toBe('object');
    const p = tablePrice('claude-sonnet-4-5', 'anthropic', 'https://api.anthropic.com');
    expect(p?.input).toBe(tableBase(raw));
    expect(p?.input).toBeLessThan(calcPrice({ input_tokens: 1_000_000 }, 'claude-sonnet-4-5', { providerId: 'anthropic' })!.total_price);
  });

  it('falls back to the input price when the table has no cache-read price', () => {
    const r = calcPrice({}, 'llama-3.3-70b-versatile', { providerId: 'groq' });
    expect(r?.model_price['cache_read_mtok']).toBeUndefined();
    const p = tablePrice('llama-3.3-70b-versatile', 'openai', 'https://api.groq.com/openai/v1');
    expect(p).not.toBeNull();
    expect(p!.cached_input).toBe(p!.input);
  });

  it('prices input-only models (embeddings) at 0 per output token', () => {
    const p = tablePrice('text-embedding-3-small', 'openai', 'https://api.openai.com/v1');
    const r = calcPrice({}, 'text-embedding-3-small', { providerId: 'openai' });
    expect(r?.model_price['output_mtok']).toBeUndefined();
    expect(p?.input).toBe(tableBase(r?.model_price['input_mtok']));
    expect(p?.output).toBe(0);
  });

  it('lets the endpoint host decide the provider over the model name', () => {
    expect(tablePrice('claude-sonnet-4-5', 'openai', 'https://api.openai.com/v1')).toBeNull();
    expect(tablePrice('claude-sonnet-4-5', 'openai', 'https://openai-proxy.example.com/v1')).not.toBeNull();
  });

  it.each([
    ['no-such-model-anywhere', 'openai', 'https://api.openai.com/v1'],
    ['no-such-model-anywhere', 'openai', 'https://example.com/v1'],
    ['no-such-model-anywhere', 'anthropic', 'https://example.com'],
    // `openai` is a wire format many vendors speak: no hint, and the name alone matches nothing.
    ['phi-4', 'openai', 'https://example.com/v1'],
    // Priced per audio hour, not per token.
    ['whisper-1', 'openai', 'https://api.openai.com/v1'],
  ] as const)('unknown %s (%s at %s) → null, never 0', (model, type, endpoint) => {
    expect(tablePrice(model, type, endpoint)).toBeNull();
  });

  it('never throws on weird inputs', () => {
    // The table matches deepseek-chat by prefix, so only the bound on names keeps this one out.
    expect(tablePrice('deepseek-chat-xxxx', 'openai', 'https://api.deepseek.com')).not.toBeNull();
    const big = 'deepseek-chat'.padEnd(10_240, 'x');
    const weird: Array<[unknown, unknown, unknown]> = [
      ['', 'openai', 'https://api.openai.com/v1'],
      ['   ', 'openai', 'https://api.openai.com/v1'],
      [big, 'openai', 'https://api.deepseek.com'],
      ['gpt-4o'.padEnd(10_240, '('), 'openai', ''],
      [undefined, 'openai', 'https://api.openai.com/v1'],
      [42, undefined, null],
    ];
    for (const [model, type, endpoint] of weird) {
      expect(() => tablePrice(model as string, type as 'openai', endpoint as string)).not.toThrow();
      expect(tablePrice(model as string, type as 'openai', endpoint as string)).toBeNull();
    }
    // A bad endpoint or type is no hint, not a failure.
    const weirdHints: Array<[unknown, unknown]> = [
      ['openai', ''],
      ['openai', 'not a url'],
      ['openai', '::::'],
      ['openai', 'api.openai.com/v1'],
      ['openai', `https://${'a'.repeat(10_240)}.com`],
      ['toString', 'https://example.com'],
      ['__proto__', undefined],
    ];
    for (const [type, endpoint] of weirdHints) {
      expect(tablePrice('gpt-4o-mini', type as 'openai', endpoint as string)).toEqual(packagePrice('gpt-4o-mini', 'openai'));
    }
  });

  it('remembers a result and hands out a frozen price', () => {
    const a = tablePrice('gpt-4o', 'openai', 'https://api.openai.com/v1');
    expect(tablePrice('gpt-4o', 'openai', 'https://api.openai.com/v1')).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('ignores time-of-day windows, so the price does not depend on the hour of loading', () => {
    const peakHour = new Date('2026-11-10T10:00:00Z');
    const offPeakHour = new Date('2026-11-11T20:00:00Z');
    // The table does price deepseek-chat differently by the hour.
    expect(packagePrice('deepseek-chat', 'deepseek', peakHour)).not.toEqual(packagePrice('deepseek-chat', 'deepseek', offPeakHour));
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(peakHour);
    const atPeak = tablePrice('deepseek-chat', 'openai', 'https://api.deepseek.com');
    vi.setSystemTime(offPeakHour);
    const offPeak = tablePrice('deepseek-chat', 'openai', 'https://api.deepseek.com');
    expect(atPeak).toEqual(offPeak);
    expect(atPeak).toEqual(packagePrice('deepseek-chat', 'deepseek', offPeakHour));
  });

  it('follows dated price changes, even for a remembered model', () => {
    // deepseek-v4-flash changed price on 2026-08-17; noon UTC is outside its peak windows.
    const before = new Date('2026-08-01T12:00:00Z');
    const after = new Date('2026-09-01T12:00:00Z');
    expect(packagePrice('deepseek-v4-flash', 'deepseek', before)).not.toEqual(packagePrice('deepseek-v4-flash', 'deepseek', after));
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(before);
    expect(tablePrice('deepseek-v4-flash', 'openai', 'https://api.deepseek.com')).toEqual(packagePrice('deepseek-v4-flash', 'deepseek', before));
    vi.setSystemTime(after);
    expect(tablePrice('deepseek-v4-flash', 'openai', 'https://api.deepseek.com')).toEqual(packagePrice('deepseek-v4-flash', 'deepseek', after));
  });

  it('never goes to the network', () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    for (const m of ['gpt-4.1', 'claude-opus-4-1', 'gemini-2.0-flash', 'never-heard-of-it']) tablePrice(m, 'openai', 'https://example.org');
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});
