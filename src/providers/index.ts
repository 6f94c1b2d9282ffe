import type { ProviderConfig } from '../config/load.js';
import type { Json } from '../protocols/json.js';
import type { Endpoint } from '../routing/plan.js';
import { SseDecoder } from '../stream/sse.js';
import type { ByteSource } from '../stream/upstream-stream.js';
import { AnthropicChunks, chatToMessagesRequest, messageToChat } from './anthropic.js';
import { chatToGeminiRequest, embeddingsToGemini, geminiEmbeddings, GeminiChunks, geminiToChat, isKeyInvalid, retryDelayMs } from './gemini.js';

export { Untranslatable } from './anthropic.js';

/**
 * What the gateway does differently, for one try, with a provider that does not speak the
 * OpenAI API: the body it is sent, its answers and streams turned into the OpenAI form, and
 * what its failures mean, so that nothing after the upstream call depends on the provider's type.
 */
export interface TryAdapter {
  /** The provider's request (may throw `Untranslatable`). */
  readonly payload: Json;
  /** A whole answer in the OpenAI form; null when it is not an answer of the provider's kind. */
  answer(json: unknown): Json | null;
  /** The provider's stream as a chat stream's bytes. */
  stream(body: ByteSource): ByteSource;
  /** A client-error answer that really means the provider refuses the gateway (switch provider). */
  refusesGateway?(status: number, body: Buffer): boolean;
  /** The wait a 429 asks for in its body, in ms. */
  retryAfterMs?(body: Buffer): number | null;
}

/**
 * The adapter for one try of `out` (the OpenAI-form body, with `model`, `stream` and the rest
 * decided) on `p`; null when the provider speaks the OpenAI API itself.
 */
export function adapterFor(p: ProviderConfig, endpoint: Endpoint, out: Json): TryAdapter | null {
  // Called for every try: OpenAI-format providers (the common case) leave at once.
  if (p.type === 'openai' || p.type === 'azure') return null;
  const created = Math.floor(Date.now() / 1000);
  switch (p.type) {
    case 'anthropic':
      return {
        payload: chatToMessagesRequest(out, p.model, p.default_max_tokens),
        answer: (json) => messageToChat(json, created),
        stream(body) {
          const chunks = new AnthropicChunks(created);
          return convertedSource(body, (data) => chunks.event(data));
        },
      };
    case 'gemini': {
      if (endpoint === '/embeddings') {
        const base64 = out.encoding_format === 'base64';
        return {
          payload: embeddingsToGemini(out, p.model),
          answer: (json) => geminiEmbeddings(json, p.model, base64),
          stream: (body) => body,
          refusesGateway: (status, body) => status === 400 && isKeyInvalid(body),
          retryAfterMs: retryDelayMs,
        };
      }
      return {
        payload: chatToGeminiRequest(out),
        answer: (json) => geminiToChat(json, p.model, created),
        stream(body) {
          const chunks = new GeminiChunks(p.model, created);
          return convertedSource(body, (data) => chunks.event(data), () => chunks.end());
        },
        refusesGateway: (status, body) => status === 400 && isKeyInvalid(body),
        retryAfterMs: retryDelayMs,
      };
    }
  }
}

/**
 * A byte stream of SSE events rewritten event by event (`convert` gives the new events' text for
 * one event's data; `end`, what follows once the source ended). Destroying it destroys the
 * source, so timeouts and cancels reach the provider.
 */
export function convertedSource(source: ByteSource, convert: (data: string | null) => string, end?: () => string): ByteSource {
  const decoder = new SseDecoder();
  async function* run(): AsyncGenerator<Buffer, void, undefined> {
    for await (const chunk of source) {
      let out = '';
      for (const e of decoder.push(chunk)) out += convert(e.data);
      if (out !== '') yield Buffer.from(out);
    }
    let tail = '';
    for (const e of decoder.end()) tail += convert(e.data);
    if (end) tail += end();
    if (tail !== '') yield Buffer.from(tail);
  }
  const gen = run();
  return {
    [Symbol.asyncIterator]: () => gen,
    destroy: (err?: Error) => source.destroy(err),
  };
}
