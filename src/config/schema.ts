import { z } from 'zod';
import { DEFAULT_PERIOD_CRON } from './cron.js';

/**
 * The shape of `config/provider.json`, exactly as the first version read it, plus this
 * rewrite's optional additions. Objects are strict: an unknown field (a typo such as
 * `request_per_period`) is an error rather than a silently lifted quota. Fields whose name
 * starts with `_` are comments and are removed before this schema sees the file (load.ts).
 */

const nonNegativeInt = z.int().min(0);
const positiveInt = z.int().min(1);

export const rateLimitSchema = z.strictObject({
  requests_per_period: nonNegativeInt.nullable().default(null),
  tokens_per_period: nonNegativeInt.nullable().default(null),
  /** USD per period, from the provider's `price` (SPEC §8). */
  cost_per_period: z.number().min(0).max(9e6).nullable().default(null),
  period_cron: z.string().min(1).default(DEFAULT_PERIOD_CRON),
});

/** USD per million tokens (SPEC §8); `cached_input` defaults to `input` (no cache discount). */
export const priceSchema = z.strictObject({
  input: z.number().min(0).max(1e6),
  output: z.number().min(0).max(1e6),
  cached_input: z.number().min(0).max(1e6).optional(),
});

export const providerSchema = z.strictObject({
  name: z.string().min(1),
  /** How the provider is called (SPEC §7): checked against the types this version serves at load. */
  type: z.string().min(1).default('openai'),
  /** Azure OpenAI: the `api-version` of deployment URLs; unset, the v1 API. */
  api_version: z.string().min(1).max(64).nullable().default(null),
  /** Anthropic: `max_tokens` for requests that set none (Anthropic requires it). */
  default_max_tokens: positiveInt.nullable().default(null),
  endpoint: z.string().min(1),
  api_key: z.string(),
  model: z.string().min(1),
  priority: z.int().default(1),
  weight: positiveInt.default(10),
  rate_limit: rateLimitSchema.nullable().default(null),
  retry: nonNegativeInt.optional(),
  timeout: positiveInt.optional(),
  /** Seconds a streamed answer may take to its first content or tool call (SPEC §9); unset: `_global`'s, else `timeout`. */
  first_token_timeout: z.number().min(0.05).max(3600).optional(),
  stream_support: z.boolean().default(true),
  non_stream_support: z.boolean().default(true),
  enabled: z.boolean().default(true),
  custom_headers: z.record(z.string(), z.string()).nullable().default(null),
  max_context_length: positiveInt.nullable().default(null),
  cooldown_seconds: nonNegativeInt.optional(),
  /** The upstream takes `reasoning_effort` (reasoning models): Anthropic `thinking` is mapped to it. */
  reasoning: z.boolean().default(false),
  /** The upstream speaks the Responses API: `/v1/responses` requests pass through to it untranslated. */
  native_responses: z.boolean().default(false),
  /** The most output tokens the upstream accepts: larger `max_tokens` asks are lowered to it (agents ask 32 K–128 K). */
  max_output_tokens: positiveInt.nullable().default(null),
  /** What the provider charges; unset: the maintained price table by `model`, else unknown. */
  price: priceSchema.nullable().default(null),
});

/** A model's own shape; each provider is then checked on its own against `providerSchema`. */
export const modelSchema = z.strictObject({
  providers: z.array(z.unknown()).min(1),
  /** Other names the model answers to: exact, or glob patterns (`claude-*`). */
  aliases: z.array(z.string().min(1).max(256)).max(1000).default([]),
});

const DEFAULT_BODY_BYTES_IN_FLIGHT = 256 * 1024 * 1024;

export const globalSchema = z.strictObject({
  default_timeout: positiveInt.default(120),
  default_retry: nonNegativeInt.default(3),
  log_requests: z.boolean().default(true),
  api_key: z.string().default(''),
  admin_key: z.string().default(''),
  cooldown_seconds: nonNegativeInt.default(30),
  /** No cooldown lasts longer, whatever `Retry-After` a provider sends (SPEC §9). */
  max_cooldown_seconds: nonNegativeInt.default(300),
  /** Seconds a streamed answer may take to its first content or tool call; unset: each provider's `timeout`. */
  first_token_timeout: z.number().min(0.05).max(3600).optional(),
  /** How long a session stays pinned to the provider that served it last (SPEC §9); 0 turns affinity off. */
  affinity_ttl_seconds: nonNegativeInt.max(30 * 24 * 3600).default(600),
  max_body_bytes: positiveInt.default(32 * 1024 * 1024),
  /** All request bodies being received at once; unset: 256 MiB, or `max_body_bytes` when that is larger. */
  max_body_bytes_in_flight: positiveInt.optional(),
  max_response_bytes: positiveInt.default(64 * 1024 * 1024),
  /** How long a stored response (`/v1/responses` with `store`) is kept (SPEC §7): 30 days. */
  responses_ttl_seconds: positiveInt.default(30 * 24 * 3600),
  /** The bytes all stored responses may hold together; past it the oldest go first. */
  responses_max_bytes: positiveInt.default(1024 * 1024 * 1024),
})
  // Only compared when both are valid numbers: an invalid one is already reported on its own.
  .refine(({ max_body_bytes: one, max_body_bytes_in_flight: all }) => all === undefined || !(all >= 1 && one >= 1) || all >= one, {
    path: ['max_body_bytes_in_flight'],
    message: 'must be at least max_body_bytes (one body of the largest size must fit)',
  })
  .transform((g) => ({ ...g, max_body_bytes_in_flight: g.max_body_bytes_in_flight ?? Math.max(DEFAULT_BODY_BYTES_IN_FLIGHT, g.max_body_bytes) }));

export type RawProvider = z.infer<typeof providerSchema>;
export type RawGlobal = z.infer<typeof globalSchema>;
