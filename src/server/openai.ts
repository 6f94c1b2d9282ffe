import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ModelConfig } from '../config/load.js';
import { modelNotFound } from '../errors.js';
import { openAiFormat } from '../protocols/openai.js';
import { proxiedRoute, type ProxiedDeps } from './proxied.js';

/** The OpenAI surface: `/v1/models`, `/v1/models/{id}` and the three proxied endpoints. */
export function registerOpenAiRoutes(app: FastifyInstance, deps: ProxiedDeps): void {
  const served = (m: ModelConfig): boolean => m.providers.some((p) => p.enabled);
  const modelObject = (m: ModelConfig) => ({ id: m.name, object: 'model', created: 0, owned_by: 'api-gateway' });
  // A virtual key sees only the models it may use (SPEC §8).
  const allowed = (request: FastifyRequest, m: ModelConfig): boolean => request.key?.models?.includes(m.name) ?? true;
  app.get('/v1/models', async (request) => {
    const data = [...deps.config().models.values()].filter((m) => served(m) && allowed(request, m)).map(modelObject);
    return { object: 'list', data };
  });
  // A wildcard: model names may contain `/` (`meta-llama/Llama-3-70b`).
  app.get<{ Params: { '*': string } }>('/v1/models/*', async (request) => {
    const id = request.params['*'];
    const m = deps.config().models.get(id);
    if (!m || !served(m) || !allowed(request, m)) throw modelNotFound(id);
    return modelObject(m);
  });

  for (const endpoint of ['/chat/completions', '/completions', '/embeddings'] as const) {
    const format = openAiFormat(endpoint);
    app.post(`/v1${endpoint}`, { config: { format } }, proxiedRoute(format, deps));
  }
}

