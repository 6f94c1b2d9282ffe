import type { ClientFormat, ErrorInfo, ParseResult } from './format.js';

type OpenAiEndpoint = '/chat/completions' | '/completions' | '/embeddings';

/**
 * The OpenAI formats (chat completions, legacy completions, embeddings): the internal form
 * itself, so requests go upstream as the client sent them (only `model` rewritten) and answers
 * and streams come back untranslated.
 */
export function openAiFormat(endpoint: OpenAiEndpoint): ClientFormat {
  return {
    name: 'openai',
    endpoint,
    parse: (body) => parse(endpoint, body),
    answer: () => null,
    stream: () => null,
    error: openAiError,
    newId: () => null,
  };
}

export function openAiError(e: ErrorInfo): unknown {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

function parse(endpoint: OpenAiEndpoint, body: unknown): ParseResult {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('The request body must be a JSON object.', null);
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model.length === 0) return bad('`model` must be a non-empty string.', 'model');
  if (endpoint === '/chat/completions' && !Array.isArray(b.messages)) return bad('`messages` must be an array.', 'messages');
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') return bad('`stream` must be a boolean.', 'stream');
  const options = b.stream_options as { include_usage?: unknown } | null | undefined;
  return {
    ok: true,
    body: b,
    model: b.model,
    stream: endpoint !== '/embeddings' && b.stream === true,
    clientWantsUsage: options?.include_usage === true,
    reasoningEffort: null,
  };
}

function bad(message: string, param: string | null): ParseResult {
  return { ok: false, message, param };
}
