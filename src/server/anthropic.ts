import type { FastifyInstance } from 'fastify';
import { resolveModel } from '../config/aliases.js';
import { invalidRequest, modelNotAllowed } from '../errors.js';
import { anthropicCountTokensText } from '../protocols/anthropic.js';
import { messagesFormat } from '../protocols/messages.js';
import { estimateTokens } from '../usage/tokens.js';
import { proxiedRoute, type ProxiedDeps } from './proxied.js';

/**
 * The Anthropic surface (SPEC §7): `POST /v1/messages` (any query string: Claude Code adds
 * `?beta=true`), translated to chat for every provider, and `POST /v1/messages/count_tokens`,
 * an estimate with the gateway's tokenizer. Errors of both come in Anthropic's shape.
 */
export function registerAnthropicRoutes(app: FastifyInstance, deps: ProxiedDeps): void {
  const config = { format: messagesFormat };
  app.post('/v1/messages', { config }, proxiedRoute(messagesFormat, deps));
  app.post('/v1/messages/count_tokens', { config }, async (request) => {
    const body = request.body as Record<string, unknown> | null;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidRequest('The request body must be a JSON object.');
    if (typeof body.model !== 'string' || body.model === '') throw invalidRequest('model: a non-empty string is required.', 'model');
    if (!Array.isArray(body.messages)) throw invalidRequest('messages: an array is required.', 'messages');
    const model = resolveModel(deps.config(), body.model);
    if (model && request.key?.models && !request.key.models.includes(model.name)) throw modelNotAllowed(body.model);
    const { text, chars } = anthropicCountTokensText(body);
    return { input_tokens: await estimateTokens(text, chars) };
  });
}
