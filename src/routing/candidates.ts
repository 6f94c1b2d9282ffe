import type { ModelConfig, ProviderConfig } from '../config/load.js';

export interface RequestNeeds {
  /** The client asked for a stream. */
  stream: boolean;
}

export type Candidates =
  | { ok: true; providers: readonly ProviderConfig[] }
  | { ok: false; reason: 'all providers are disabled' | 'no enabled provider supports this request mode' };

/** The providers of a model that may serve this request, in the file's order. */
export function candidatesFor(model: ModelConfig, needs: RequestNeeds): Candidates {
  const enabled = model.providers.filter((p) => p.enabled);
  if (enabled.length === 0) return { ok: false, reason: 'all providers are disabled' };
  const able = enabled.filter((p) => (needs.stream ? p.stream_support : p.non_stream_support));
  if (able.length === 0) return { ok: false, reason: 'no enabled provider supports this request mode' };
  return { ok: true, providers: able };
}
