import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { cronProblem } from './cron.js';
import { buildAliases, type AliasTable } from './aliases.js';
import { authHeaders, PROVIDER_TYPES, type ProviderType } from '../upstream/wire.js';
import { ANTHROPIC_VERSION } from '../providers/anthropic.js';
import { tablePrice, type Price } from '../usage/cost.js';
import { globalSchema, modelSchema, providerSchema, type RawGlobal, type RawProvider } from './schema.js';

/** A provider as the gateway uses it: the file's fields with every default filled in, plus what is derived once at load. */
export interface ProviderConfig extends Readonly<Omit<RawProvider, 'retry' | 'timeout' | 'first_token_timeout' | 'cooldown_seconds' | 'type' | 'price'>> {
  readonly type: ProviderType;
  /** USD per million tokens: the file's `price`, else the price table's for `model`, else unknown (null). */
  readonly price: Price | null;
  readonly priceSource: 'config' | 'table' | null;
  /** `model/name` (see `providerId`): unique over the whole file, the key of health and usage state. */
  readonly id: string;
  /** The public model name the provider serves. */
  readonly publicModel: string;
  readonly retry: number;
  readonly timeout: number;
  /** Seconds to the first content of a streamed answer (SPEC §9). */
  readonly first_token_timeout: number;
  readonly cooldown_seconds: number;
  /** `scheme://host:port` of `endpoint`: the connection pool key. */
  readonly origin: string;
  /** The path of `endpoint` without a trailing slash; the gateway appends `/chat/completions` etc. */
  readonly basePath: string;
  /** Headers sent upstream on every try: authorization and custom headers, resolved once. */
  readonly upstreamHeaders: Readonly<Record<string, string>>;
}

export interface ModelConfig {
  readonly name: string;
  readonly providers: readonly ProviderConfig[];
  readonly aliases: readonly string[];
}

export interface GatewayConfig {
  readonly global: Readonly<RawGlobal>;
  readonly models: ReadonlyMap<string, ModelConfig>;
  /** Every provider of every model by id (`providerId(model, name)`), in the file's order. */
  readonly providers: ReadonlyMap<string, ProviderConfig>;
  /** Other names of models (`aliases`), resolved by `resolveModel`. */
  readonly aliases: AliasTable;
  /** Every secret value of the file (keys, header values), so the logger can scrub them. */
  readonly secrets: readonly string[];
}

export type ParseResult = { ok: true; config: GatewayConfig } | { ok: false; errors: string[] };

export interface ParseOptions {
  /** Where `${NAME}` values are read from. */
  env: Readonly<Record<string, string | undefined>>;
  /** The zone cron periods are evaluated in. */
  tz: string;
}

const FORBIDDEN_HEADERS = new Set([
  'host', 'content-length', 'transfer-encoding', 'connection', 'authorization',
  'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade',
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const UNSAFE_HEADER_VALUE = /[\r\n\0]/;
const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export async function loadConfigFile(path: string, opts: ParseOptions): Promise<ParseResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return { ok: false, errors: [`cannot read config file ${path}: ${code}`] };
  }
  return parseConfig(text, opts);
}

export function parseConfig(text: string, opts: ParseOptions): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // V8's message quotes the text around the error (a secret typed without quotes would reach
    // the logs) and is worded differently by each Node version: the position is found here.
    const e = jsonSyntaxError(text);
    return { ok: false, errors: [e ? `config is not valid JSON: ${e.kind} at line ${e.line}, column ${e.column}` : 'config is not valid JSON'] };
  }
  if (!isPlainObject(raw)) return { ok: false, errors: ['config must be a JSON object of models'] };

  const errors: string[] = [];
  const secrets = new Set<string>();

  const g = globalSchema.safeParse(withoutComments(raw._global ?? {}));
  if (!g.success) errors.push(...zodErrors(g.error, '_global'));
  const global = g.success ? g.data : globalSchema.parse({});
  for (const k of [global.api_key, global.admin_key]) if (k) secrets.add(k);

  const models = new Map<string, ModelConfig>();
  for (const [modelName, value] of Object.entries(raw)) {
    if (modelName.startsWith('_')) continue;
    const where = `model "${modelName}"`;
    // The model's shape first, then each provider on its own, so that one broken provider does
    // not hide the errors of the others.
    const shape = modelSchema.safeParse(withoutComments(value));
    if (!shape.success) {
      errors.push(...zodErrors(shape.error, where));
      continue;
    }
    const providers: ProviderConfig[] = [];
    const seen = new Set<string>();
    shape.data.providers.forEach((rawProvider, i) => {
      const name = providerName(rawProvider);
      const at = name ? `${where}, provider "${name}"` : `${where}, providers[${i}]`;
      const parsed = providerSchema.safeParse(providerWithoutComments(rawProvider));
      if (!parsed.success) {
        errors.push(...zodErrors(parsed.error, at));
        return;
      }
      const p = parsed.data;
      if (seen.has(p.name)) errors.push(`${at}: name: duplicate provider name in this model`);
      seen.add(p.name);
      const resolved = resolveProvider(modelName, p, global, opts, (field, msg) => errors.push(`${at}: ${field}: ${msg}`));
      if (resolved) {
        providers.push(resolved);
        if (resolved.api_key) secrets.add(resolved.api_key);
        for (const v of Object.values(resolved.custom_headers ?? {})) if (v.length >= 6) secrets.add(v);
      }
    });
    models.set(modelName, deepFreeze({ name: modelName, providers, aliases: shape.data.aliases }));
  }

  const aliases = buildAliases(models, (model, message) => errors.push(`model "${model}": ${message}`));
  if (errors.length > 0) return { ok: false, errors };
  const providers = new Map<string, ProviderConfig>();
  for (const m of models.values()) for (const p of m.providers) providers.set(p.id, p);
  return { ok: true, config: deepFreeze({ global, models, providers, aliases, secrets: [...secrets] }) };
}

function resolveProvider(
  modelName: string,
  p: RawProvider,
  global: RawGlobal,
  opts: ParseOptions,
  fail: (field: string, msg: string) => void,
): ProviderConfig | null {
  let ok = true;
  const bad = (field: string, msg: string): void => {
    ok = false;
    fail(field, msg);
  };

  let url: URL | null = null;
  try {
    url = new URL(p.endpoint);
  } catch {
    // The value is not repeated: a key pasted into the wrong field would reach the logs.
    bad('endpoint', 'not a URL');
  }
  if (url) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') bad('endpoint', 'must be an http:// or https:// URL');
    if (url.username || url.password) bad('endpoint', 'must not carry credentials; use api_key or custom_headers');
    if (url.search || url.hash) bad('endpoint', 'must not carry a query string or fragment');
  }

  const apiKey = expandEnv(p.api_key, opts.env, (name) => bad('api_key', `environment variable ${name} is not set`));
  let customHeaders: Record<string, string> | null = null;
  if (p.custom_headers) {
    customHeaders = {};
    for (const [name, value] of Object.entries(p.custom_headers)) {
      const field = `custom_headers.${name}`;
      if (!HEADER_NAME.test(name)) bad(field, 'not a valid header name');
      else if (FORBIDDEN_HEADERS.has(name.toLowerCase())) bad(field, 'this header is set by the gateway and may not be overridden');
      const expanded = expandEnv(value, opts.env, (env) => bad(field, `environment variable ${env} is not set`));
      if (UNSAFE_HEADER_VALUE.test(expanded)) bad(field, 'value may not contain CR, LF or NUL');
      customHeaders[name] = expanded;
    }
  }

  const type = PROVIDER_TYPES.find((t) => t === p.type) ?? null;
  if (type === null) {
    bad('type', `unknown provider type ${JSON.stringify(p.type.slice(0, 32))} (one of ${PROVIDER_TYPES.join(', ')})`);
  }
  if (p.api_version !== null && type !== 'azure') bad('api_version', 'only for providers of type "azure"');
  if (p.api_version !== null && !/^[A-Za-z0-9._-]+$/.test(p.api_version)) bad('api_version', 'letters, digits, dot, dash and underscore only');
  if (p.default_max_tokens !== null && type !== 'anthropic') bad('default_max_tokens', 'only for providers of type "anthropic"');
  if (p.native_responses && type !== 'openai' && type !== 'azure') bad('native_responses', 'only for providers of type "openai" or "azure"');
  if (type === 'anthropic' && p.reasoning) bad('reasoning', 'not for providers of type "anthropic" (thinking passes through /v1/messages)');
  if (!p.stream_support && !p.non_stream_support) {
    bad('stream_support', 'stream_support and non_stream_support cannot both be false');
  }
  if (p.rate_limit) {
    const problem = cronProblem(p.rate_limit.period_cron, opts.tz);
    if (problem) bad('rate_limit.period_cron', `invalid cron expression "${p.rate_limit.period_cron}": ${problem}`);
  }
  if (!ok || !url || type === null) return null;
  const price: Price | null = p.price
    ? { input: p.price.input, output: p.price.output, cached_input: p.price.cached_input ?? p.price.input }
    : tablePrice(p.model, type, p.endpoint);
  if (p.rate_limit?.cost_per_period != null && price === null) {
    fail('rate_limit.cost_per_period', `needs the provider's price: set "price" (the price table does not know model "${p.model.slice(0, 64)}")`);
    return null;
  }

  const upstreamHeaders: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  for (const [k, v] of Object.entries(customHeaders ?? {})) upstreamHeaders[k.toLowerCase()] = v;
  if (apiKey) Object.assign(upstreamHeaders, authHeaders(type, apiKey));
  if (type === 'anthropic') upstreamHeaders['anthropic-version'] ??= ANTHROPIC_VERSION;

  return {
    ...p,
    type,
    price,
    priceSource: p.price ? 'config' : price ? 'table' : null,
    api_key: apiKey,
    custom_headers: customHeaders,
    id: providerId(modelName, p.name),
    publicModel: modelName,
    retry: p.retry ?? global.default_retry,
    timeout: p.timeout ?? global.default_timeout,
    first_token_timeout: p.first_token_timeout ?? global.first_token_timeout ?? p.timeout ?? global.default_timeout,
    cooldown_seconds: p.cooldown_seconds ?? global.cooldown_seconds,
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, ''),
    upstreamHeaders,
  };
}

/**
 * A provider's id: `model/name`, with `%` and `/` percent-encoded inside each part, so that model
 * `x/y` with provider `z` and model `x` with provider `y/z` do not share one (`x%2Fy/z`, `x/y%2Fz`).
 * Names without `%` or `/` give `model/name` exactly, as before: stored counters keep their keys.
 */
export function providerId(model: string, name: string): string {
  return `${encodeIdPart(model)}/${encodeIdPart(name)}`;
}

function encodeIdPart(s: string): string {
  return s.replace(/[%/]/g, (c) => (c === '%' ? '%25' : '%2F'));
}

export interface JsonSyntaxError {
  /** 1-based; columns count UTF-16 code units from the line's start. */
  line: number;
  column: number;
  /** What is wrong, in words that quote nothing of the text. */
  kind: string;
}

const BARE_WORD = 'a bare word where a value is expected (strings need double quotes)';

/**
 * The first syntax error of `text` as JSON (RFC 8259, as `JSON.parse` reads it), or null when
 * it is valid. One pass with an explicit stack, so any nesting depth is fine.
 */
export function jsonSyntaxError(text: string): JsonSyntaxError | null {
  const n = text.length;
  let i = 0;
  const stack: Array<'{' | '['> = [];
  const fail = (at: number, kind: string): JsonSyntaxError => {
    const before = text.lastIndexOf('\n', at - 1);
    let line = 1;
    for (let k = text.indexOf('\n'); k !== -1 && k < at; k = text.indexOf('\n', k + 1)) line++;
    return { line, column: at - before, kind };
  };
  const skipSpace = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const digits = (): number => {
    const from = i;
    while (i < n && text[i]! >= '0' && text[i]! <= '9') i++;
    return i - from;
  };
  /** A string from the `"` at i; null when it is well formed (i is then past it). */
  const string = (): JsonSyntaxError | null => {
    const start = i++;
    for (;;) {
      if (i >= n) return fail(start, 'unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) return (i++, null);
      if (c < 0x20) return fail(i, 'control character in a string (a line break inside quotes?)');
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else return fail(i, 'invalid escape in a string');
      } else i++;
    }
  };
  /** A property name, then its colon; null when both are there (i is then at the value). */
  const key = (): JsonSyntaxError | null => {
    skipSpace();
    if (i >= n) return fail(i, 'unexpected end of the file');
    if (text[i] !== '"') return fail(i, 'a property name must be in double quotes');
    const bad = string();
    if (bad) return bad;
    skipSpace();
    if (i >= n) return fail(i, 'unexpected end of the file');
    if (text[i] !== ':') return fail(i, "expected ':' after a property name");
    i++;
    return null;
  };

  for (;;) {
    // A value is expected at i.
    skipSpace();
    if (i >= n) return fail(i, 'unexpected end of the file');
    const c = text[i]!;
    if (c === '{' || c === '[') {
      i++;
      skipSpace();
      if (text[i] === (c === '{' ? '}' : ']')) {
        i++;
      } else {
        stack.push(c);
        if (c === '{') {
          const bad = key();
          if (bad) return bad;
        }
        continue;
      }
    } else if (c === '"') {
      const bad = string();
      if (bad) return bad;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      if (c === '-') i++;
      if (text[i] === '0') {
        i++;
        if (i < n && text[i]! >= '0' && text[i]! <= '9') return fail(i, 'invalid number');
      } else if (digits() === 0) return fail(i, 'invalid number');
      if (text[i] === '.') {
        i++;
        if (digits() === 0) return fail(i, 'invalid number');
      }
      if (text[i] === 'e' || text[i] === 'E') {
        i++;
        if (text[i] === '+' || text[i] === '-') i++;
        if (digits() === 0) return fail(i, 'invalid number');
      }
    } else {
      const word = ['true', 'false', 'null'].find((w) => text.startsWith(w, i) && !/[\w$-]/.test(text[i + w.length] ?? ''));
      if (word) i += word.length;
      else if (c === "'") return fail(i, 'a string in single quotes (JSON needs double quotes)');
      else if (/[A-Za-z_$]/.test(c)) return fail(i, BARE_WORD);
      else return fail(i, 'unexpected character where a value is expected');
    }

    // A value ended: close every container it completes, until one wants another value.
    for (;;) {
      skipSpace();
      const top = stack.at(-1);
      if (top === undefined) return i < n ? fail(i, 'unexpected content after the end of the JSON value') : null;
      const close = top === '{' ? '}' : ']';
      if (i >= n) return fail(i, 'unexpected end of the file');
      if (text[i] === close) {
        i++;
        stack.pop();
        continue;
      }
      if (text[i] !== ',') return fail(i, top === '{' ? "expected ',' or '}' after a property value" : "expected ',' or ']' after an array element");
      i++;
      skipSpace();
      if (text[i] === close) return fail(i, `a comma before '${close}' (trailing commas are not allowed)`);
      if (top === '{') {
        const bad = key();
        if (bad) return bad;
      }
      break;
    }
  }
}

function expandEnv(value: string, env: ParseOptions['env'], missing: (name: string) => void): string {
  return value.replace(ENV_REF, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) {
      missing(name);
      return '';
    }
    return v;
  });
}

function zodErrors(error: z.ZodError, where: string): string[] {
  return error.issues.map((issue) => {
    const message = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => `unknown field "${k}"`).join(', ') : issue.message;
    const field = issue.path.map(String).join('.');
    return field ? `${where}: ${field}: ${message}` : `${where}: ${message}`;
  });
}

function providerName(p: unknown): string | null {
  return isPlainObject(p) && typeof p.name === 'string' ? p.name : null;
}

/** `_`-prefixed fields are comments (the first version's convention). */
function withoutComments(value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => !k.startsWith('_')));
}

function providerWithoutComments(p: unknown): unknown {
  const out = withoutComments(p);
  if (isPlainObject(out) && isPlainObject(out.rate_limit)) out.rate_limit = withoutComments(out.rate_limit);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepFreeze<T>(value: T): T {
  if (value instanceof Map) {
    for (const v of value.values()) deepFreeze(v);
  } else if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return Object.freeze(value);
}
