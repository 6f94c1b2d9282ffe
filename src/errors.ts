/**
 * Every answer the gateway gives of its own, with a stable code, an HTTP status and an OpenAI
 * error type. The server's error handler renders each as `{"error":{message,type,param,code}}`.
 */
export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'GatewayError';
  }

  /** The error in neutral terms, for a client format to render (`protocols/format.ts`). */
  info(): { status: number; type: string; code: string; message: string; param: string | null } {
    return { status: this.status, type: this.type, code: this.code, message: this.message, param: this.param };
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: string } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const invalidRequest = (message: string, param: string | null = null): GatewayError =>
  new GatewayError(400, 'invalid_request_error', 'invalid_request', message, param);

export const invalidJson = (): GatewayError =>
  new GatewayError(400, 'invalid_request_error', 'invalid_json', 'The request body is not valid JSON.');

export const contextLengthExceeded = (tokens: number): GatewayError =>
  new GatewayError(400, 'invalid_request_error', 'context_length_exceeded',
    `The prompt (about ${tokens} tokens) is longer than the context of every provider of this model.`, 'messages');

/** One body for every authentication failure, whatever was wrong, so it tells an attacker nothing. */
export const unauthorized = (): GatewayError =>
  new GatewayError(401, 'invalid_request_error', 'invalid_api_key', 'Missing or invalid API key.', null, { 'www-authenticate': 'Bearer' });

/** A browser request that another site made (a form or script on another origin): refused whatever the key. */
export const crossSiteRequest = (): GatewayError =>
  new GatewayError(403, 'invalid_request_error', 'cross_site_request',
    'Requests from another site are refused: call the gateway from its own origin or from a server.');

/** The name is the client's: cut, so an 8 MiB name does not come back as an 8 MiB error. */
export const modelNotFound = (model: string): GatewayError =>
  new GatewayError(404, 'invalid_request_error', 'model_not_found', `The model '${model.length > 256 ? `${model.slice(0, 256)}…` : model}' does not exist.`, 'model');

export const routeNotFound = (method: string, path: string): GatewayError =>
  new GatewayError(404, 'invalid_request_error', 'not_found', `No route for ${method} ${path}.`);

export const payloadTooLarge = (limit: number): GatewayError =>
  new GatewayError(413, 'invalid_request_error', 'request_too_large', `The request body is larger than ${limit} bytes.`);

/** Too many request bodies are being received at once (`_global.max_body_bytes_in_flight`). */
export const bodiesBusy = (): GatewayError =>
  new GatewayError(503, 'service_unavailable', 'server_busy',
    'The gateway is receiving too many request bodies at once; retry in a moment.', null, { 'retry-after': '1' });

export const unsupportedMediaType = (): GatewayError =>
  new GatewayError(415, 'invalid_request_error', 'unsupported_media_type',
    'The request body must be JSON, sent with `Content-Type: application/json`.');

export const quotaExceeded = (retryAfterSeconds: number): GatewayError =>
  new GatewayError(429, 'rate_limit_error', 'quota_exceeded',
    'Every provider of this model has used its quota for the current period.', null,
    { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) });

export const allProvidersFailed = (model: string, tried: string): GatewayError =>
  new GatewayError(502, 'upstream_error', 'all_providers_failed', `No provider could serve model '${model}'. Tried: ${tried}.`);

export const noProviderAvailable = (model: string, why: string): GatewayError =>
  new GatewayError(503, 'service_unavailable', 'no_provider_available', `No provider of model '${model}' is available: ${why}.`);

export const usageStoreUnavailable = (model: string): GatewayError =>
  new GatewayError(503, 'service_unavailable', 'usage_store_unavailable',
    `Every provider of model '${model}' has a quota, and the usage store that enforces it is unreachable.`);

/** The admin API cannot read or reset usage: the store (Redis) is unreachable or does not answer. */
export const usageStoreUnreachable = (): GatewayError =>
  new GatewayError(503, 'service_unavailable', 'usage_store_unavailable',
    'The usage store is unreachable, so usage cannot be read or reset now; retry later.', null, { 'retry-after': '5' });

/** An unknown, expired or deleted stored response, or one made with another key: all alike. */
export const responseNotFound = (id: string): GatewayError =>
  new GatewayError(404, 'invalid_request_error', 'response_not_found', `Response with id '${id.length > 64 ? `${id.slice(0, 64)}…` : id}' not found.`, 'response_id');

export const responseStoreUnavailable = (): GatewayError =>
  new GatewayError(503, 'service_unavailable', 'usage_store_unavailable',
    'The usage store, which keeps stored responses, is unreachable; retry later.', null, { 'retry-after': '5' });

export const shuttingDown = (): GatewayError =>
  new GatewayError(503, 'service_unavailable', 'shutting_down', 'The gateway is shutting down; retry on another instance.', null, { 'retry-after': '1' });

export const internalError = (): GatewayError =>
  new GatewayError(500, 'internal_error', 'internal_error', 'The gateway failed to handle the request.');

export const allProvidersRateLimited = (model: string, retryAfterSeconds: number, tried: string): GatewayError =>
  new GatewayError(429, 'rate_limit_error', 'rate_limited',
    `Every provider of model '${model}' is rate-limited or over its quota. Tried: ${tried}.`, null,
    { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) });

export const endpointNotSupported = (model: string, endpoint: string): GatewayError =>
  new GatewayError(400, 'invalid_request_error', 'endpoint_not_supported', `No provider of model '${model}' can serve ${endpoint}.`, 'model');

/** The error event that ends a stream the upstream broke off after its first byte (no `[DONE]` follows). */
export const streamInterrupted = (): GatewayError =>
  new GatewayError(502, 'upstream_error', 'stream_interrupted', 'The upstream provider broke off the stream; the answer is incomplete.');

export const configRefused = (count: number): GatewayError =>
  new GatewayError(400, 'invalid_request_error', 'invalid_config', `The configuration was refused (${count} error(s)); the running configuration stays.`);

export const providerNotFound = (model: string, provider: string): GatewayError =>
  new GatewayError(404, 'invalid_request_error', 'provider_not_found', `Model '${model}' has no provider '${provider}'.`, 'provider');

/** A client error Fastify or Node raised itself (bad header, unsupported method…): its 4xx status, in OpenAI format. */
export const clientError = (status: number, code: string, message: string): GatewayError =>
  new GatewayError(status, 'invalid_request_error', code, message);

/** A virtual key asked for a model outside its `models` list (SPEC §8). */
export const modelNotAllowed = (model: string): GatewayError =>
  new GatewayError(403, 'permission_error', 'model_not_allowed',
    `This API key may not use the model '${model.length > 256 ? `${model.slice(0, 256)}…` : model}'.`, 'model');

/** A virtual key used up its requests, tokens or cost for the period: `Retry-After` is its next reset. */
export const keyQuotaExceeded = (what: string, retryAfterSeconds: number): GatewayError =>
  new GatewayError(429, 'rate_limit_error', 'key_quota_exceeded',
    `This API key has used its ${what} for the current period.`, null,
    { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) });

export const tooManyConcurrentRequests = (max: number): GatewayError =>
  new GatewayError(429, 'rate_limit_error', 'too_many_concurrent_requests',
    `This API key already has ${max} request(s) in flight, its limit; retry when one ends.`, null, { 'retry-after': '1' });

/** Virtual keys exist but cannot be read yet (the shared store is unreachable since start): no key but the master key is known. */
export const keysUnavailable = (): GatewayError =>
  new GatewayError(503, 'service_unavailable', 'usage_store_unavailable',
    'API keys cannot be checked now: the usage store that keeps them is unreachable; retry later.', null, { 'retry-after': '5' });

export const keyNotFound = (id: string): GatewayError =>
  new GatewayError(404, 'invalid_request_error', 'key_not_found', `No API key with id '${id.length > 64 ? `${id.slice(0, 64)}…` : id}'.`, 'id');

export const tooManyKeys = (max: number): GatewayError =>
  new GatewayError(400, 'invalid_request_error', 'too_many_keys', `The gateway keeps at most ${max} API keys.`);

export const keyRevoked = (id: string): GatewayError =>
  new GatewayError(409, 'invalid_request_error', 'key_revoked', `The API key '${id.length > 64 ? `${id.slice(0, 64)}…` : id}' is revoked and cannot be changed; create a new one.`, 'id');
