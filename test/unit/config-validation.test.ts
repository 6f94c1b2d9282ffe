import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig, type GatewayConfig, type ParseResult, type ProviderConfig } from '../../src/config/load.js';

const ENV = { PROVIDER_KEY: 'sk-from-env-0001', ORG: 'org-42', EMPTY: '' };

function parse(raw: unknown, env: Record<string, string | undefined> = ENV): ParseResult {
  return parseConfig(typeof raw === 'string' ? raw : JSON.stringify(raw), { env, tz: 'UTC' });
}

function ok(raw: unknown, env?: Record<string, string | undefined>): GatewayConfig {
  const r = parse(raw, env);
  if (!r.ok) throw new Error(`expected a valid config, got:\n${r.errors.join('\n')}`);
  return r.config;
}

function errorsOf(raw: unknown, env?: Record<string, string | undefined>): string[] {
  const r = parse(raw, env);
  if (r.ok) throw new Error('expected the config to be refused');
  return r.errors;
}

function prov(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'p', endpoint: 'https://api.example.com/v1', api_key: 'sk-test-key-1', model: 'up-model', ...extra };
}

/** A file with one model `m` and one provider `p` carrying `extra`. */
function one(extra: Record<string, unknown> = {}, global?: Record<string, unknown>): Record<string, unknown> {
  return { ...(global ? { _global: global } : {}), m: { providers: [prov(extra)] } };
}

function provider(config: GatewayConfig, model = 'm', index = 0): ProviderConfig {
  const p = config.models.get(model)?.providers[index];
  if (!p) throw new Error(`no provider ${model}[${index}]`);
  return p;
}

describe('defaults of a minimal file', () => {
  const config = ok(one());
  const p = provider(config);

  it.each([
    ['default_timeout', 120],
    ['default_retry', 3],
    ['log_requests', true],
    ['api_key', ''],
    ['admin_key', ''],
    ['cooldown_seconds', 30],
    ['max_body_bytes', 33554432],
    ['max_body_bytes_in_flight', 268435456],
  ] as const)('_global.%s defaults to %j', (field, value) => {
    expect(config.global[field]).toBe(value);
  });

  it('_global.max_body_bytes_in_flight defaults to max_body_bytes when that is larger, so no older file becomes invalid', () => {
    expect(ok(one({}, { max_body_bytes: 512 * 1024 * 1024 })).global.max_body_bytes_in_flight).toBe(512 * 1024 * 1024);
    expect(ok(one({}, { max_body_bytes: 1000, max_body_bytes_in_flight: 1000 })).global.max_body_bytes_in_flight).toBe(1000);
  });

  it.each([
    ['priority', 1],
    ['weight', 10],
    ['retry', 3],
    ['timeout', 120],
    ['cooldown_seconds', 30],
    ['stream_support', true],
    ['non_stream_support', true],
    ['enabled', true],
    ['rate_limit', null],
    ['custom_headers', null],
    ['max_context_length', null],
  ] as const)('provider.%s defaults to %j', (field, value) => {
    expect(p[field]).toBe(value);
  });

  it('has exactly one model with one provider', () => {
    expect([...config.models.keys()]).toEqual(['m']);
    expect(config.models.get('m')?.providers).toHaveLength(1);
    expect(config.models.get('m')?.name).toBe('m');
  });

  it('fills rate_limit defaults, period_cron 0 0 * * *, when rate_limit is given without them', () => {
    const c = ok(one({ rate_limit: { requests_per_period: 100 } }));
    expect(provider(c).rate_limit).toEqual({ requests_per_period: 100, tokens_per_period: null, cost_per_period: null, period_cron: '0 0 * * *' });
  });

  it('keeps an explicit rate_limit.period_cron', () => {
    const c = ok(one({ rate_limit: { tokens_per_period: 5000, cost_per_period: null, period_cron: '0 */6 * * *' } }));
    expect(provider(c).rate_limit).toEqual({ requests_per_period: null, tokens_per_period: 5000, cost_per_period: null, period_cron: '0 */6 * * *' });
  });
});

describe('provider settings versus _global', () => {
  it('retry and timeout inherit from _global when the provider sets none', () => {
    const p = provider(ok(one({}, { default_retry: 5, default_timeout: 45, cooldown_seconds: 7 })));
    expect([p.retry, p.timeout, p.cooldown_seconds]).toEqual([5, 45, 7]);
  });

  it('provider retry and timeout override _global', () => {
    const p = provider(ok(one({ retry: 0, timeout: 9, cooldown_seconds: 0 }, { default_retry: 5, default_timeout: 45 })));
    expect([p.retry, p.timeout, p.cooldown_seconds]).toEqual([0, 9, 0]);
  });

  it('explicit priority, weight, flags are kept', () => {
    const p = provider(ok(one({ priority: 3, weight: 25, stream_support: false, enabled: false, max_context_length: 8192 })));
    expect([p.priority, p.weight, p.stream_support, p.non_stream_support, p.enabled, p.max_context_length]).toEqual([
      3, 25, false, true, false, 8192,
    ]);
  });
});

describe('`_`-prefixed fields are comments', () => {
  it('are ignored at top level, in _global, in a model, in a provider and in rate_limit', () => {
    const config = ok({
      _comment: 'top',
      _other: { anything: [1, 2] },
      _global: { _note: 'global comment', default_retry: 2 },
      m: {
        _note: 'model comment',
        providers: [prov({ _disabled_reason: 'x', _weight: 'not a number', rate_limit: { _why: 'quota', requests_per_period: 3 } })],
      },
    });
    expect([...config.models.keys()]).toEqual(['m']);
    expect(config.global.default_retry).toBe(2);
    const p = provider(config);
    expect(p.weight).toBe(10);
    expect(p.rate_limit).toEqual({ requests_per_period: 3, tokens_per_period: null, cost_per_period: null, period_cron: '0 0 * * *' });
    expect(Object.keys(p).some((k) => k.startsWith('_'))).toBe(false);
    expect(Object.keys(config.global).some((k) => k.startsWith('_'))).toBe(false);
  });
});

describe('errors name model, provider and field', () => {
  // Each row: the provider's extra fields (or a whole file), and strings the one error must contain.
  const M = 'model "m"';
  const P = 'provider "p"';
  const rows: Array<[string, Record<string, unknown>, string[]]> = [
    ['missing endpoint', { m: { providers: [{ name: 'p', api_key: 'k', model: 'x' }] } }, [M, P, 'endpoint']],
    ['missing api_key', { m: { providers: [{ name: 'p', endpoint: 'https://a.example', model: 'x' }] } }, [M, P, 'api_key']],
    ['missing model', { m: { providers: [{ name: 'p', endpoint: 'https://a.example', api_key: 'k' }] } }, [M, P, 'model:']],
    ['weight "10" (string)', one({ weight: '10' }), [M, P, 'weight']],
    ['priority 1.5', one({ priority: 1.5 }), [M, P, 'priority']],
    ['weight 0', one({ weight: 0 }), [M, P, 'weight']],
    ['negative retry', one({ retry: -1 }), [M, P, 'retry']],
    ['timeout 0', one({ timeout: 0 }), [M, P, 'timeout']],
    ['enabled "yes"', one({ enabled: 'yes' }), [M, P, 'enabled']],
    ['unknown field request_per_period in rate_limit', one({ rate_limit: { request_per_period: 5 } }), [M, P, 'rate_limit', 'request_per_period']],
    ['unknown provider field', one({ wieght: 5 }), [M, P, 'unknown field "wieght"']],
    ['duplicate provider name', { m: { providers: [prov(), prov({ endpoint: 'https://b.example' })] } }, [M, P, 'name', 'duplicate']],
    ['endpoint ftp://x', one({ endpoint: 'ftp://x' }), [M, P, 'endpoint', 'http']],
    ['endpoint not a URL', one({ endpoint: 'api.example.com/v1' }), [M, P, 'endpoint', 'not a URL']],
    ['endpoint with user:pass@', one({ endpoint: 'https://user:pass@api.example.com/v1' }), [M, P, 'endpoint', 'credentials']],
    ['endpoint with a query string', one({ endpoint: 'https://api.example.com/v1?key=1' }), [M, P, 'endpoint']],
    ['cron 61 * * * *', one({ rate_limit: { period_cron: '61 * * * *' } }), [M, P, 'rate_limit.period_cron', '61 * * * *']],
    ['6-field cron', one({ rate_limit: { period_cron: '0 0 0 * * *' } }), [M, P, 'rate_limit.period_cron', '5']],
    ['never-firing cron 0 0 31 2 *', one({ rate_limit: { period_cron: '0 0 31 2 *' } }), [M, P, 'rate_limit.period_cron']],
    ['custom_headers Host', one({ custom_headers: { Host: 'evil.example' } }), [M, P, 'custom_headers.Host']],
    ['custom_headers authorization', one({ custom_headers: { authorization: 'Bearer x' } }), [M, P, 'custom_headers.authorization']],
    ['custom_headers CONTENT-LENGTH', one({ custom_headers: { 'CONTENT-LENGTH': '5' } }), [M, P, 'custom_headers.CONTENT-LENGTH']],
    ['custom_headers Transfer-Encoding', one({ custom_headers: { 'Transfer-Encoding': 'chunked' } }), [M, P, 'custom_headers.Transfer-Encoding']],
    ['custom_headers connection', one({ custom_headers: { connection: 'close' } }), [M, P, 'custom_headers.connection']],
    ['custom header value with \\r\\n', one({ custom_headers: { 'X-Org': 'a\r\nX-Injected: 1' } }), [M, P, 'custom_headers.X-Org', 'CR']],
    ['invalid header name', one({ custom_headers: { 'X Bad:Name': 'v' } }), [M, P, 'custom_headers.X Bad:Name', 'header name']],
    ['stream_support and non_stream_support both false', one({ stream_support: false, non_stream_support: false }), [M, P, 'stream_support']],
    ['api_key ${UNSET}', one({ api_key: '${NOT_SET_ANYWHERE}' }), [M, P, 'api_key', 'NOT_SET_ANYWHERE']],
    ['custom header ${UNSET}', one({ custom_headers: { 'X-Org': 'Org ${NOT_SET_ANYWHERE}' } }), [M, P, 'custom_headers.X-Org', 'NOT_SET_ANYWHERE']],
  ];

  it.each(rows)('%s', (_label, raw, parts) => {
    const errors = errorsOf(raw);
    expect(errors).toHaveLength(1);
    for (const part of parts) expect(errors[0]).toContain(part);
  });

  it('a provider without a name is named by its index, and every missing field is reported', () => {
    const errors = errorsOf({ m: { providers: [{}] } });
    expect(errors).toHaveLength(4);
    for (const field of ['name', 'endpoint', 'api_key', 'model']) {
      expect(errors.some((e) => e.startsWith('model "m", providers[0]: ') && e.includes(`${field}:`))).toBe(true);
    }
  });

  it('the second provider without a name is providers[1]', () => {
    const errors = errorsOf({ m: { providers: [prov(), { endpoint: 'https://a.example', api_key: 'k', model: 'x' }] } });
    expect(errors).toEqual([expect.stringMatching(/^model "m", providers\[1\]: name: /)]);
  });

  it.each([
    ['empty providers', { m: { providers: [] } }, ['model "m"', 'providers']],
    ['providers missing', { m: {} }, ['model "m"', 'providers']],
    ['a model that is a string', { m: 'gpt' }, ['model "m"', 'object']],
    ['a model that is an array', { m: [prov()] }, ['model "m"']],
    ['a model with an unknown field', { m: { providers: [prov()], fallback: 'x' } }, ['model "m"', 'unknown field "fallback"']],
    ['unknown _global field', { _global: { default_retries: 2 }, m: { providers: [prov()] } }, ['_global', 'unknown field "default_retries"']],
    ['_global wrong type', { _global: { log_requests: 'yes' }, m: { providers: [prov()] } }, ['_global', 'log_requests']],
    ['_global default_timeout 0', { _global: { default_timeout: 0 }, m: { providers: [prov()] } }, ['_global', 'default_timeout']],
    ['_global max_body_bytes_in_flight below max_body_bytes', { _global: { max_body_bytes: 2000, max_body_bytes_in_flight: 1000 }, m: { providers: [prov()] } }, ['_global', 'max_body_bytes_in_flight', 'max_body_bytes']],
    ['_global max_body_bytes_in_flight 0', { _global: { max_body_bytes_in_flight: 0 }, m: { providers: [prov()] } }, ['_global', 'max_body_bytes_in_flight']],
  ] as const)('%s', (_label, raw, parts) => {
    const errors = errorsOf(raw);
    expect(errors).toHaveLength(1);
    for (const part of parts) expect(errors[0]).toContain(part);
  });

  it.each(['Host', 'HOST', 'host', 'Authorization', 'AUTHORIZATION', 'Content-Length', 'content-length', 'Transfer-Encoding', 'TRANSFER-encoding', 'Connection', 'CONNECTION'])(
    'custom header %s is refused in any case',
    (name) => {
      const errors = errorsOf(one({ custom_headers: { [name]: 'v' } }));
      expect(errors).toEqual([`model "m", provider "p": custom_headers.${name}: this header is set by the gateway and may not be overridden`]);
    },
  );

  it.each(['a\rb', 'a\nb', 'a\r\nb', 'a\0b'])('custom header value %j is refused', (value) => {
    expect(errorsOf(one({ custom_headers: { 'X-Org': value } }))).toEqual([
      'model "m", provider "p": custom_headers.X-Org: value may not contain CR, LF or NUL',
    ]);
  });

  it('a CR/LF brought in by ${ENV} expansion is refused too', () => {
    expect(errorsOf(one({ custom_headers: { 'X-Org': '${NL}' } }), { NL: 'a\r\nX-Evil: 1' })).toEqual([
      'model "m", provider "p": custom_headers.X-Org: value may not contain CR, LF or NUL',
    ]);
  });

  it.each(['0 */6 * * *', '0 0 * * 1', '0 0 1 * *', '*/30 * * * *', '0 0 * * *'])('the SPEC cron example %s is accepted', (cron) => {
    expect(provider(ok(one({ rate_limit: { period_cron: cron } }))).rate_limit?.period_cron).toBe(cron);
  });
});

describe('several errors in one file', () => {
  it('are all reported, across _global and models', () => {
    const errors = errorsOf({
      _global: { default_retries: 1 },
      a: { providers: [prov({ name: 'pa', weight: '10' })] },
      b: { providers: [prov({ name: 'pb', endpoint: 'ftp://x' }), prov({ name: 'pc', custom_headers: { Host: 'h' } })] },
      c: { providers: [] },
    });
    expect(errors).toHaveLength(5);
    expect(errors.filter((e) => e.startsWith('_global: ') && e.includes('default_retries'))).toHaveLength(1);
    expect(errors.filter((e) => e.startsWith('model "a", provider "pa": weight'))).toHaveLength(1);
    expect(errors.filter((e) => e.startsWith('model "b", provider "pb": endpoint'))).toHaveLength(1);
    expect(errors.filter((e) => e.startsWith('model "b", provider "pc": custom_headers.Host'))).toHaveLength(1);
    expect(errors.filter((e) => e.startsWith('model "c": providers'))).toHaveLength(1);
  });

  it('are all reported within one provider', () => {
    const errors = errorsOf(one({ weight: 0, priority: 'high', retry: -2, timeout: 1.5 }));
    expect(errors.map((e) => e.split(':')[1]?.trim()).sort()).toEqual(['priority', 'retry', 'timeout', 'weight']);
    for (const e of errors) expect(e.startsWith('model "m", provider "p": ')).toBe(true);
  });

  // One provider failing the schema must not hide the other providers' errors.
  it('are all reported within one model, schema and semantic errors together', () => {
    const errors = errorsOf({ m: { providers: [prov({ name: 'p1', weight: '10' }), prov({ name: 'p2', endpoint: 'ftp://x' })] } });
    expect(errors).toHaveLength(2);
    expect(errors.some((e) => e.startsWith('model "m", provider "p2": endpoint'))).toBe(true);
  });
});

describe('files that are not a JSON object', () => {
  it.each([
    ['not JSON', '{ "m": ', /^config is not valid JSON/],
    ['empty text', '', /^config is not valid JSON/],
    ['a JSON array', '[{"providers":[]}]', /^config must be a JSON object of models$/],
    ['a JSON string', '"hello"', /^config must be a JSON object of models$/],
    ['JSON null', 'null', /^config must be a JSON object of models$/],
  ])('%s is refused', (_label, text, message) => {
    const errors = errorsOf(text);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
  });

  it('an empty object is a valid file with no models', () => {
    const c = ok({});
    expect(c.models.size).toBe(0);
    expect(c.global.default_retry).toBe(3);
  });
});

describe('${ENV} expansion', () => {
  it('expands api_key and builds the Bearer authorization from the expanded key', () => {
    const p = provider(ok(one({ api_key: '${PROVIDER_KEY}' })));
    expect(p.api_key).toBe('sk-from-env-0001');
    expect(p.upstreamHeaders.authorization).toBe('Bearer sk-from-env-0001');
  });

  it('expands a variable embedded in a custom header value, such as `Bearer ${X}`', () => {
    const p = provider(ok(one({ custom_headers: { 'X-Upstream-Auth': 'Bearer ${PROVIDER_KEY}', 'OpenAI-Organization': '${ORG}' } })));
    expect(p.custom_headers).toEqual({ 'X-Upstream-Auth': 'Bearer sk-from-env-0001', 'OpenAI-Organization': 'org-42' });
    expect(p.upstreamHeaders['x-upstream-auth']).toBe('Bearer sk-from-env-0001');
    expect(p.upstreamHeaders['openai-organization']).toBe('org-42');
  });

  it('expands several variables in one value', () => {
    const p = provider(ok(one({ api_key: '${ORG}-${PROVIDER_KEY}' })));
    expect(p.api_key).toBe('org-42-sk-from-env-0001');
  });

  it('does not expand $NAME without braces', () => {
    expect(provider(ok(one({ api_key: '$PROVIDER_KEY' }))).api_key).toBe('$PROVIDER_KEY');
  });

  it('an unset variable is an error naming the field and the variable', () => {
    expect(errorsOf(one({ api_key: 'sk-${MISSING_KEY}' }))).toEqual([
      'model "m", provider "p": api_key: environment variable MISSING_KEY is not set',
    ]);
  });

  it('the secret comes from the env, not from the file text', () => {
    const c = ok(one({ api_key: '${PROVIDER_KEY}' }));
    expect(c.secrets).toContain('sk-from-env-0001');
    expect(c.secrets).not.toContain('${PROVIDER_KEY}');
  });
});

describe('derived provider fields', () => {
  const config = ok({
    'gpt-4o': {
      providers: [
        prov({ name: 'alpha', endpoint: 'https://api.example.com/v1/', api_key: 'sk-alpha-key', custom_headers: { 'X-Title': 'gateway', 'HTTP-Referer': 'https://me' } }),
        prov({ name: 'beta', endpoint: 'http://127.0.0.1:6011/beta/v1//' }),
        prov({ name: 'gamma', endpoint: 'https://root.example.com' }),
      ],
    },
  });
  const [alpha, beta, gamma] = [0, 1, 2].map((i) => provider(config, 'gpt-4o', i)) as [ProviderConfig, ProviderConfig, ProviderConfig];

  it.each([
    ['alpha', alpha, 'gpt-4o/alpha', 'https://api.example.com', '/v1'],
    ['beta', beta, 'gpt-4o/beta', 'http://127.0.0.1:6011', '/beta/v1'],
    ['gamma', gamma, 'gpt-4o/gamma', 'https://root.example.com', ''],
  ])('%s: id, origin, basePath', (_n, p, id, origin, basePath) => {
    expect(p.id).toBe(id);
    expect(p.publicModel).toBe('gpt-4o');
    expect(p.origin).toBe(origin);
    expect(p.basePath).toBe(basePath);
  });

  it('upstreamHeaders carry the Bearer key and the custom headers lower-cased', () => {
    expect(alpha.upstreamHeaders).toEqual({
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'x-title': 'gateway',
      'http-referer': 'https://me',
      authorization: 'Bearer sk-alpha-key',
    });
    expect(beta.upstreamHeaders.authorization).toBe('Bearer sk-test-key-1');
  });

  it('the config, its global, a model, a provider, upstreamHeaders and secrets are frozen', () => {
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.global)).toBe(true);
    expect(Object.isFrozen(config.secrets)).toBe(true);
    expect(Object.isFrozen(config.models.get('gpt-4o'))).toBe(true);
    expect(Object.isFrozen(config.models.get('gpt-4o')?.providers)).toBe(true);
    expect(Object.isFrozen(alpha)).toBe(true);
    expect(Object.isFrozen(alpha.upstreamHeaders)).toBe(true);
    expect(Object.isFrozen(alpha.custom_headers)).toBe(true);
    expect(() => {
      (alpha as { weight: number }).weight = 99;
    }).toThrow(TypeError);
    expect(alpha.weight).toBe(10);
  });

  it('secrets hold the provider keys and the gateway keys', () => {
    const c = ok({
      _global: { api_key: 'gw-api-key-1', admin_key: 'gw-admin-key-2' },
      a: { providers: [prov({ name: 'x', api_key: 'sk-provider-x' }), prov({ name: 'y', api_key: 'sk-provider-y' })] },
      b: { providers: [prov({ name: 'x', api_key: 'sk-provider-b', custom_headers: { 'X-Secret': 'header-secret-value' } })] },
    });
    expect([...c.secrets].sort()).toEqual(
      ['gw-api-key-1', 'gw-admin-key-2', 'sk-provider-x', 'sk-provider-y', 'sk-provider-b', 'header-secret-value'].sort(),
    );
  });

  it('the same provider name in two models is fine (ids differ)', () => {
    const c = ok({ a: { providers: [prov({ name: 'x' })] }, b: { providers: [prov({ name: 'x' })] } });
    expect([provider(c, 'a').id, provider(c, 'b').id]).toEqual(['a/x', 'b/x']);
  });
});

describe('the shipped config/provider.json', () => {
  it('parses OK', () => {
    const path = fileURLToPath(new URL('../../config/provider.json', import.meta.url));
    const r = parseConfig(readFileSync(path, 'utf8'), { env: process.env, tz: 'UTC' });
    if (!r.ok) throw new Error(r.errors.join('\n'));
    expect(r.config.models.size).toBeGreaterThan(0);
    for (const m of r.config.models.values()) {
      expect(m.providers.length).toBeGreaterThan(0);
      for (const p of m.providers) expect(p.id).toBe(`${m.name}/${p.name}`);
    }
  });
});

describe('prices and cost quotas (SPEC §8)', () => {
  it('a provider `price` is taken as given, cached_input defaulting to input', () => {
    expect(provider(ok(one({ price: { input: 2.5, output: 10, cached_input: 1.25 } }))).price).toEqual({ input: 2.5, output: 10, cached_input: 1.25 });
    const p = provider(ok(one({ price: { input: 3, output: 15 } })));
    expect(p.price).toEqual({ input: 3, output: 15, cached_input: 3 });
    expect(p.priceSource).toBe('config');
  });

  it('without `price`, the price table gives it by upstream model name; an unknown model has none (null, not 0)', () => {
    const known = provider(ok(one({ model: 'gpt-4o-mini', endpoint: 'https://api.openai.com/v1' })));
    expect(known.priceSource).toBe('table');
    expect(known.price?.input).toBeGreaterThan(0);
    expect(known.price?.output).toBeGreaterThan(known.price?.input ?? Infinity);
    const unknown = provider(ok(one({ model: 'up-model-nobody-prices' })));
    expect(unknown.price).toBeNull();
    expect(unknown.priceSource).toBeNull();
  });

  it('refuses a negative or non-numeric price, unknown price fields, and a cost quota without a price', () => {
    expect(errorsOf(one({ price: { input: -1, output: 1 } })).join('\n')).toMatch(/provider "p": price\.input/);
    expect(errorsOf(one({ price: { input: 1, output: '2' } })).join('\n')).toMatch(/price\.output/);
    expect(errorsOf(one({ price: { input: 1, output: 2, cache_read: 1 } })).join('\n')).toMatch(/price: unknown field "cache_read"/);
    expect(errorsOf(one({ model: 'up-model-nobody-prices', rate_limit: { cost_per_period: 5 } })).join('\n'))
      .toMatch(/provider "p": rate_limit\.cost_per_period: needs the provider's price/);
    expect(provider(ok(one({ model: 'up-model-nobody-prices', price: { input: 1, output: 2 }, rate_limit: { cost_per_period: 5 } }))).rate_limit?.cost_per_period).toBe(5);
    expect(errorsOf(one({ price: { input: 1, output: 2 }, rate_limit: { cost_per_period: -5 } })).join('\n')).toMatch(/rate_limit\.cost_per_period/);
  });
});
