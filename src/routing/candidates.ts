import type { ModelConfig, ProviderConfig } from '../config/load.js';

export type Candidates =
  | { ok: true; providers: readonly ProviderConfig[] }
  | { ok: false; reason: 'all providers are disabled' };

/**
 * The providers of a model that may serve a request, in the file's order. Every enabled
 * provider can serve a stream and a plain request alike: the gateway converts between them.
 */
export function candidatesFor(model: ModelConfig): Candidates {
  const enabled = model.providers.filter((p) => p.enabled);
  if (enabled.length === 0) return { ok: false, reason: 'all providers are disabled' };
  return { ok: true, providers: enabled };
}
