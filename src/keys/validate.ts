import { z } from 'zod';
import { cronProblem, DEFAULT_PERIOD_CRON } from '../config/cron.js';
import type { KeySettings } from './record.js';

export type { KeySettings };

/**
 * What an operator may set on a virtual key (SPEC §8), for `POST` (every field but `name`
 * optional) and `PATCH` (every field optional, merged over the key). Strict: an unknown field
 * (a typo such as `request_per_period`) is refused rather than silently lifting a limit.
 */
const nonNegativeInt = z.int().min(0).max(Number.MAX_SAFE_INTEGER);
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const MAX_METADATA_BYTES = 8 * 1024;

const rateLimit = z.strictObject({
  requests_per_period: nonNegativeInt.nullable().default(null),
  tokens_per_period: nonNegativeInt.nullable().default(null),
  cost_per_period: z.number().min(0).max(9e6).nullable().default(null),
  period_cron: z.string().min(1).max(128).default(DEFAULT_PERIOD_CRON),
});

const fields = {
  name: z.string().min(1).max(64)
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters')
    .refine((s) => s.trim() === s, 'must not start or end with spaces'),
  models: z.array(z.string().min(1).max(256)).max(1000).nullable(),
  rate_limit: rateLimit.nullable(),
  max_concurrent: z.int().min(1).max(1_000_000).nullable(),
  expires_at: z.string().max(40).regex(ISO_8601, 'must be an ISO 8601 date and time with a zone, e.g. 2027-01-01T00:00:00Z')
    .refine((s) => Number.isFinite(Date.parse(s)), 'is not a valid date').nullable(),
  metadata: z.record(z.string().max(256), z.unknown())
    .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= MAX_METADATA_BYTES, `must be at most ${MAX_METADATA_BYTES} bytes of JSON`).nullable(),
};

const createSchema = z.strictObject({ ...fields, name: fields.name, models: fields.models.optional(), rate_limit: fields.rate_limit.optional(),
  max_concurrent: fields.max_concurrent.optional(), expires_at: fields.expires_at.optional(), metadata: fields.metadata.optional() });
const patchSchema = createSchema.partial();

export type Checked<T> = { ok: true; value: T } | { ok: false; message: string; param: string };

export interface CheckContext {
  /** Whether a public model name is configured. */
  isModel(name: string): boolean;
  tz: string;
}

/** A create request's body, checked: every setting with its default. */
export function checkCreate(body: unknown, ctx: CheckContext): Checked<KeySettings> {
  const parsed = createSchema.safeParse(body);
  if (!parsed.success) return firstIssue(parsed.error);
  const d = parsed.data;
  return checkSemantics({
    name: d.name, models: d.models ?? null, rate_limit: d.rate_limit ?? null, max_concurrent: d.max_concurrent ?? null,
    expires_at: normalizeDate(d.expires_at ?? null), metadata: d.metadata ?? null,
  }, ctx);
}

/** A change to `current`, checked as a whole: either all of it applies or none. */
export function checkPatch(current: KeySettings, body: unknown, ctx: CheckContext): Checked<KeySettings> {
  const parsed = patchSchema.safeParse(body);
  if (!parsed.success) return firstIssue(parsed.error);
  const d = parsed.data;
  const next: KeySettings = { ...current };
  if (d.name !== undefined) next.name = d.name;
  if (d.models !== undefined) next.models = d.models;
  if (d.rate_limit !== undefined) next.rate_limit = d.rate_limit;
  if (d.max_concurrent !== undefined) next.max_concurrent = d.max_concurrent;
  if (d.expires_at !== undefined) next.expires_at = normalizeDate(d.expires_at);
  if (d.metadata !== undefined) next.metadata = d.metadata;
  return checkSemantics(next, ctx);
}

function checkSemantics(s: KeySettings, ctx: CheckContext): Checked<KeySettings> {
  if (s.models) {
    const i = s.models.findIndex((m) => !ctx.isModel(m));
    if (i >= 0) return { ok: false, param: `models[${i}]`, message: `models[${i}]: unknown model '${s.models[i]!.slice(0, 256)}' (not in the configuration)` };
    s.models = [...new Set(s.models)];
  }
  if (s.rate_limit) {
    const problem = cronProblem(s.rate_limit.period_cron, ctx.tz);
    if (problem) return { ok: false, param: 'rate_limit.period_cron', message: `rate_limit.period_cron: invalid cron expression: ${problem}` };
  }
  return { ok: true, value: s };
}

function normalizeDate(s: string | null): string | null {
  return s === null ? null : new Date(Date.parse(s)).toISOString();
}

function firstIssue(error: z.ZodError): { ok: false; message: string; param: string } {
  const issue = error.issues[0];
  if (!issue) return { ok: false, message: 'invalid key settings', param: '' };
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.map(String).join('.');
    const field = prefix ? `${prefix}.${issue.keys[0]}` : String(issue.keys[0]);
    return { ok: false, param: field.slice(0, 128), message: `${field.slice(0, 128)}: unknown field` };
  }
  const param = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
  if (param === '') return { ok: false, param: '', message: `the body must be a JSON object of key settings: ${issue.message}` };
  return { ok: false, param, message: `${param}: ${issue.message}` };
}
