import type { GatewayConfig, ModelConfig } from './load.js';

/**
 * Model aliases (SPEC §7): other names a model answers to, exact (`claude-opus-4-8`) or glob
 * patterns (`claude-*`, `?` one character, `*` any run). Agent clients ask for their own default
 * model names; an alias lands them on a configured model. A configured model name always wins,
 * then an exact alias, then the most specific pattern (the most literal characters). Two models
 * whose aliases could both claim a name at the same specificity are a configuration error.
 */
export interface AliasTable {
  readonly exact: ReadonlyMap<string, string>;
  /** Patterns, most specific first. */
  readonly patterns: ReadonlyArray<{ readonly pattern: string; readonly model: string; readonly literal: number; readonly re: RegExp }>;
}

export const MAX_ALIAS_CHARS = 256;

export function isPattern(alias: string): boolean {
  return alias.includes('*') || alias.includes('?');
}

/** Builds the table; `fail` gets each conflict, naming both models. */
export function buildAliases(models: ReadonlyMap<string, { aliases: readonly string[] }>, fail: (model: string, message: string) => void): AliasTable {
  const exact = new Map<string, string>();
  const patterns: Array<{ pattern: string; model: string; literal: number; re: RegExp }> = [];
  for (const [model, m] of models) {
    for (const alias of m.aliases) {
      if (models.has(alias) && !isPattern(alias)) {
        fail(model, `aliases: "${alias}" is the name of a configured model`);
      } else if (!isPattern(alias)) {
        const other = exact.get(alias);
        if (other !== undefined && other !== model) fail(model, `aliases: "${alias}" is also an alias of model "${other}"`);
        exact.set(alias, model);
      } else {
        const literal = alias.replace(/[*?]/g, '').length;
        for (const p of patterns) {
          if (p.model !== model && p.literal === literal && globsOverlap(p.pattern, alias)) {
            fail(model, `aliases: "${alias}" and "${p.pattern}" of model "${p.model}" both match some names, equally specific`);
          }
        }
        patterns.push({ pattern: alias, model, literal, re: globRegExp(alias) });
      }
    }
  }
  patterns.sort((a, b) => b.literal - a.literal);
  return { exact, patterns };
}

/** The model a request names: by its own name, or an alias. */
export function resolveModel(config: GatewayConfig, name: string): ModelConfig | undefined {
  const direct = config.models.get(name);
  if (direct) return direct;
  if (name.length > MAX_ALIAS_CHARS) return undefined;
  const viaExact = config.aliases.exact.get(name);
  if (viaExact !== undefined) return config.models.get(viaExact);
  for (const p of config.aliases.patterns) if (p.re.test(name)) return config.models.get(p.model);
  return undefined;
}

/** A linear-time matcher: globs become regexes of literal runs, `.` and lazy `.*` (names are capped first). */
function globRegExp(glob: string): RegExp {
  const body = glob.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 's');
}

/** Whether some string matches both globs (dynamic programming over the two patterns). */
export function globsOverlap(a: string, b: string): boolean {
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (b.length + 1) + j;
    const seen = memo.get(key);
    if (seen !== undefined) return seen;
    let r: boolean;
    if (i === a.length && j === b.length) r = true;
    else if (i < a.length && a[i] === '*') r = go(i + 1, j) || (j < b.length && go(i, j + 1));
    else if (j < b.length && b[j] === '*') r = go(i, j + 1) || (i < a.length && go(i + 1, j));
    else if (i === a.length || j === b.length) r = false;
    else r = (a[i] === '?' || b[j] === '?' || a[i] === b[j]) && go(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}
