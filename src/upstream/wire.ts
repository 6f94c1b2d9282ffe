import type { ProviderConfig } from '../config/load.js';
import type { Endpoint } from '../routing/plan.js';

/**
 * How each provider `type` is called (SPEC §7): which endpoints it serves, the path of each, and
 * how the key is sent. Pure; resolved per provider at load (headers) or per try (path).
 */
export type ProviderType = 'openai' | 'azure' | 'anthropic' | 'gemini';

/** The types a configuration may name. */
export const PROVIDER_TYPES: readonly ProviderType[] = ['openai', 'azure', 'anthropic', 'gemini'];


/** The headers that carry the provider's key (and, for Anthropic, the API version). */
export function authHeaders(type: ProviderType, key: string): Record<string, string> {
  if (type === 'azure') return { 'api-key': key };
  if (type === 'anthropic') return { 'x-api-key': key };
  if (type === 'gemini') return { 'x-goog-api-key': key };
  return { authorization: `Bearer ${key}` };
}

/** Whether a provider can serve an endpoint at all (else it is not a candidate for it). */
export function serves(p: Pick<ProviderConfig, 'type' | 'native_responses'>, endpoint: Endpoint): boolean {
  if (endpoint === '/responses') return p.native_responses;
  if (endpoint === '/messages') return p.type === 'anthropic';
  // Anthropic serves only Messages: chat is translated to it; no embeddings, no legacy completions.
  if (p.type === 'anthropic') return endpoint === '/chat/completions';
  // Gemini: chat (generateContent) and embeddings (batchEmbedContents); no legacy completions.
  if (p.type === 'gemini') return endpoint === '/chat/completions' || endpoint === '/embeddings';
  return true;
}

/**
 * The path (and query) of one call: OpenAI appends the endpoint to the base URL; Azure OpenAI
 * addresses a deployment (named by `model`) with `api-version`, or, without `api_version`, the
 * v1 API (`…/openai/v1/chat/completions`, the model in the body).
 */
export function upstreamPath(p: Pick<ProviderConfig, 'type' | 'basePath' | 'model' | 'api_version'>, endpoint: Endpoint, stream = false): string {
  if (p.type === 'anthropic') return `${p.basePath}/messages`;
  if (p.type === 'gemini') {
    const model = `${p.basePath}/models/${encodeURIComponent(p.model)}`;
    if (endpoint === '/embeddings') return `${model}:batchEmbedContents`;
    return stream ? `${model}:streamGenerateContent?alt=sse` : `${model}:generateContent`;
  }
  if (p.type === 'azure') {
    if (p.api_version === null) return `${p.basePath}/v1${endpoint}`;
    return `${p.basePath}/deployments/${encodeURIComponent(p.model)}${endpoint}?api-version=${encodeURIComponent(p.api_version)}`;
  }
  return p.basePath + endpoint;
}
