import { describe, expect, it } from 'vitest';
import { globsOverlap, resolveModel } from '../../src/config/aliases.js';
import { parseConfig } from '../../src/config/load.js';

const p = (name: string) => ({ name, endpoint: 'http://127.0.0.1:1/v1', api_key: 'k', model: 'x' });
const parse = (raw: unknown) => parseConfig(JSON.stringify(raw), { env: {}, tz: 'UTC' });

describe('model aliases', () => {
  const ok = parse({
    sonnet: { aliases: ['claude-sonnet-*', 'claude-3-5-sonnet-latest'], providers: [p('a')] },
    anything: { aliases: ['claude-*'], providers: [p('b')] },
    exact: { aliases: ['claude-sonnet-4-5-special'], providers: [p('c')] },
  });
  if (!ok.ok) throw new Error(ok.errors.join('\n'));
  const to = (name: string) => resolveModel(ok.config, name)?.name ?? null;

  it.each([
    ['sonnet', 'sonnet'],
    ['claude-3-5-sonnet-latest', 'sonnet'],
    ['claude-sonnet-4-5', 'sonnet'],
    ['claude-sonnet-4-5-special', 'exact'],
    ['claude-opus-5-5', 'anything'],
    ['gpt-4o', null],
    ['Claude-opus', null],
  ])('%s → %s', (name, model) => {
    expect(to(name)).toBe(model);
  });

  it('a very long name matches no pattern', () => {
    expect(to(`claude-${'x'.repeat(10_000)}`)).toBeNull();
  });

  it.each([
    ['an alias that is another model\'s name', { a: { aliases: ['b'], providers: [p('a')] }, b: { providers: [p('b')] } }, 'is the name of a configured model'],
    ['one exact alias on two models', { a: { aliases: ['x'], providers: [p('a')] }, b: { aliases: ['x'], providers: [p('b')] } }, 'also an alias of model'],
    ['two equally specific overlapping patterns', { a: { aliases: ['claude-*'], providers: [p('a')] }, b: { aliases: ['*-opus-x'], providers: [p('b')] } }, 'both match some names'],
    ['an unknown field next to aliases', { a: { alias: ['x'], providers: [p('a')] } }, 'unknown field "alias"'],
  ])('refuses %s, naming the model', (_what, raw, message) => {
    const r = parse(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.join('\n')).toContain(message);
  });

  it('allows overlapping patterns of different specificity (the more literal one wins)', () => {
    expect(parse({ a: { aliases: ['claude-*'], providers: [p('a')] }, b: { aliases: ['claude-opus-*'], providers: [p('b')] } }).ok).toBe(true);
  });

  it.each([
    ['a*', 'b*', false],
    ['a*', '*b', true],
    ['a?c', 'abc', true],
    ['a?c', 'abd', false],
    ['*', 'anything', true],
    ['x*y*z', '*q*', true],
  ])('globsOverlap(%s, %s) = %s', (a, b, want) => {
    expect(globsOverlap(a, b)).toBe(want);
  });
});
