import type { GatewayConfig, ProviderConfig } from './load.js';

export interface ConfigChanges {
  models: { added: string[]; removed: string[]; changed: string[] };
  /** Provider ids (`providerId(model, name)`). */
  providers: { added: string[]; removed: string[]; changed: string[] };
  global: string[];
}

/** What a reload changes, by model and provider, for the reload answer and the log. */
export function diffConfigs(before: GatewayConfig, after: GatewayConfig): ConfigChanges {
  const a = before.providers;
  const b = after.providers;
  const providers = {
    added: [...b.keys()].filter((id) => !a.has(id)),
    removed: [...a.keys()].filter((id) => !b.has(id)),
    changed: [...b.keys()].filter((id) => a.has(id) && !sameProvider(a.get(id)!, b.get(id)!)),
  };
  const models = {
    added: [...after.models.keys()].filter((m) => !before.models.has(m)),
    removed: [...before.models.keys()].filter((m) => !after.models.has(m)),
    changed: [...after.models.keys()].filter((m) => {
      if (!before.models.has(m)) return false;
      const ids = (c: GatewayConfig): string => (c.models.get(m)?.providers ?? []).map((p) => p.id).join('\n');
      return ids(before) !== ids(after) || providers.changed.some((id) => b.get(id)?.publicModel === m);
    }),
  };
  const g1 = before.global as Record<string, unknown>;
  const g2 = after.global as Record<string, unknown>;
  const global = Object.keys(g2).filter((k) => JSON.stringify(g1[k]) !== JSON.stringify(g2[k]));
  return { models, providers, global };
}

/** The same settings; what the gateway derives from them is then the same too. */
export function sameProvider(x: ProviderConfig, y: ProviderConfig): boolean {
  return JSON.stringify(x) === JSON.stringify(y);
}

/** A provider whose endpoint or credentials changed is a different upstream: its health starts afresh. */
export function sameUpstream(x: ProviderConfig, y: ProviderConfig): boolean {
  return x.type === y.type && x.endpoint === y.endpoint && x.api_version === y.api_version && x.api_key === y.api_key
    && JSON.stringify(x.custom_headers) === JSON.stringify(y.custom_headers);
}
