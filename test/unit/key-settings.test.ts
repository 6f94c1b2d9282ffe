import { describe, expect, it } from 'vitest';
import { hashSecret, keyState, newSecret, parseRecord, type KeyRecord } from '../../src/keys/record.js';
import { checkCreate, checkPatch, type KeySettings } from '../../src/keys/validate.js';

const ctx = { isModel: (m: string) => m === 'gpt-4o' || m === 'claude', tz: 'UTC' };

const refused = (body: unknown): { message: string; param: string } => {
  const r = checkCreate(body, ctx);
  if (r.ok) throw new Error(`expected a refusal of ${JSON.stringify(body)}`);
  return r;
};

describe('checkCreate: the settings of a new key', () => {
  it('fills every default from a name alone', () => {
    expect(checkCreate({ name: 'team' }, ctx)).toEqual({
      ok: true, value: { name: 'team', models: null, rate_limit: null, max_concurrent: null, expires_at: null, metadata: null },
    });
  });

  it('takes every field, fills rate_limit defaults and normalizes the expiry to UTC', () => {
    const r = checkCreate({
      name: 'team', models: ['gpt-4o', 'gpt-4o'], rate_limit: { requests_per_period: 5, cost_per_period: 2.5 },
      max_concurrent: 3, expires_at: '2027-01-01T09:00:00+08:00', metadata: { owner: 'a@b.c' },
    }, ctx);
    expect(r).toEqual({
      ok: true,
      value: {
        name: 'team', models: ['gpt-4o'], rate_limit: { requests_per_period: 5, tokens_per_period: null, cost_per_period: 2.5, period_cron: '0 0 * * *' },
        max_concurrent: 3, expires_at: '2027-01-01T01:00:00.000Z', metadata: { owner: 'a@b.c' },
      },
    });
  });

  it.each([
    [{}, 'name'],
    [{ name: '' }, 'name'],
    [{ name: ' padded' }, 'name'],
    [{ name: 'a\nb' }, 'name'],
    [{ name: 'x'.repeat(65) }, 'name'],
    [{ name: 'k', nmae: 'typo' }, 'nmae'],
    [{ name: 'k', rate_limit: { request_per_period: 5 } }, 'rate_limit.request_per_period'],
    [{ name: 'k', rate_limit: { requests_per_period: -1 } }, 'rate_limit.requests_per_period'],
    [{ name: 'k', rate_limit: { tokens_per_period: 1.5 } }, 'rate_limit.tokens_per_period'],
    [{ name: 'k', rate_limit: { cost_per_period: -0.01 } }, 'rate_limit.cost_per_period'],
    [{ name: 'k', rate_limit: { period_cron: '0 0 31 2 *' } }, 'rate_limit.period_cron'],
    [{ name: 'k', rate_limit: { period_cron: 'every day' } }, 'rate_limit.period_cron'],
    [{ name: 'k', models: ['gpt-4o', 'nope'] }, 'models[1]'],
    [{ name: 'k', models: 'gpt-4o' }, 'models'],
    [{ name: 'k', max_concurrent: 0 }, 'max_concurrent'],
    [{ name: 'k', expires_at: '2027-01-01' }, 'expires_at'],
    [{ name: 'k', expires_at: '2027-13-01T00:00:00Z' }, 'expires_at'],
    [{ name: 'k', metadata: ['a'] }, 'metadata'],
    [{ name: 'k', metadata: { big: 'x'.repeat(9000) } }, 'metadata'],
  ])('refuses %j naming %s', (body, param) => {
    const r = refused(body);
    expect(r.param).toBe(param);
    expect(r.message.startsWith(param)).toBe(true);
  });

  it('refuses a body that is not an object, saying so', () => {
    for (const body of [null, [], 'name', 3]) expect(refused(body).message).toMatch(/JSON object/);
  });
});

describe('checkPatch: a change is checked as a whole, over the current settings', () => {
  const current: KeySettings = { name: 'team', models: ['gpt-4o'], rate_limit: null, max_concurrent: 2, expires_at: null, metadata: { a: 1 } };

  it('changes only what it names; null clears a setting', () => {
    expect(checkPatch(current, { max_concurrent: null, rate_limit: { tokens_per_period: 100 } }, ctx)).toEqual({
      ok: true,
      value: { ...current, max_concurrent: null, rate_limit: { requests_per_period: null, tokens_per_period: 100, cost_per_period: null, period_cron: '0 0 * * *' } },
    });
    expect(checkPatch(current, {}, ctx)).toEqual({ ok: true, value: current });
  });

  it('refuses unknown fields and bad values, and leaves the current settings untouched', () => {
    const before = JSON.stringify(current);
    expect(checkPatch(current, { models: ['gpt-4o', 'missing'], name: 'renamed' }, ctx)).toMatchObject({ ok: false, param: 'models[1]' });
    expect(checkPatch(current, { id: 'key_x' }, ctx)).toMatchObject({ ok: false, param: 'id' });
    expect(checkPatch(current, { name: null }, ctx)).toMatchObject({ ok: false, param: 'name' });
    expect(JSON.stringify(current)).toBe(before);
  });
});

describe('key records', () => {
  it('a secret is sk-gw- and 32 URL-safe characters, never the same twice; its hash is its SHA-256', () => {
    const a = newSecret();
    expect(a).toMatch(/^sk-gw-[A-Za-z0-9_-]{32}$/);
    expect(newSecret()).not.toBe(a);
    expect(hashSecret(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashSecret(a)).not.toContain(a.slice(6));
  });

  it('the state: revoked wins, then expired at the expiry instant, else active', () => {
    const k = { revoked_at: null, expires_at: '2027-01-01T00:00:00.000Z' } as KeyRecord;
    const at = Date.parse('2027-01-01T00:00:00Z');
    expect(keyState(k, at - 1)).toBe('active');
    expect(keyState(k, at)).toBe('expired');
    expect(keyState({ ...k, revoked_at: '2026-01-01T00:00:00Z' }, at - 1)).toBe('revoked');
  });

  it('a damaged or foreign record is skipped, not trusted', () => {
    expect(parseRecord('not json')).toBeNull();
    expect(parseRecord('{"id":"key_a"}')).toBeNull();
    const r = parseRecord(JSON.stringify({ id: 'key_a', hash: 'h', name: 'n', models: ['m', 3], max_concurrent: '2' }));
    expect(r).toMatchObject({ id: 'key_a', models: ['m'], max_concurrent: null, revoked_at: null, rate_limit: null });
  });
});
