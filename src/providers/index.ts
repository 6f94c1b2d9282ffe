import type { ProviderConfig } from '../config/load.js';
import type { Json } from '../protocols/json.js';
import { SseDecoder } from '../stream/sse.js';
import type { ByteSource } from '../stream/upstream-stream.js';
import { AnthropicChunks, chatToMessagesRequest, messageToChat } from './anthropic.js';

export { Untranslatable } from './anthropic.js';

/**
 * What the gateway does differently for a provider that does not speak Chat Completions: the
 * body it is sent, and its answers and streams turned into chat, so that nothing after the
 * upstream call depends on the provider's type. Null for OpenAI-format providers.
 */
export interface ProviderAdapter {
  /** The provider's request for a chat body (already with `model`, `stream` and the rest decided). May throw `Untranslatable`. */
  request(chat: Json, p: ProviderConfig): Json;
  /** A whole answer as a `chat.completion`; null when it is not an answer of the provider's kind. */
  answer(json: unknown): Json | null;
  /** The provider's stream as a chat stream's bytes. */
  stream(body: ByteSource): ByteSource;
}

const anthropic: ProviderAdapter = {
  request: (chat, p) => chatToMessagesRequest(chat, p.model, p.default_max_tokens),
  answer: (json) => messageToChat(json, nowSeconds()),
  stream(body) {
    const chunks = new AnthropicChunks(nowSeconds());
    return convertedSource(body, (data) => chunks.event(data));
  },
};

/** The adapter of a provider called on a chat endpoint; null when it speaks chat itself. */
export function adapterFor(p: Pick<ProviderConfig, 'type'>): ProviderAdapter | null {
  return p.type === 'anthropic' ? anthropic : null;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * A byte stream of SSE events rewritten event by event (`convert` gives the new events' text for
 * one event's data). Destroying it destroys the source, so timeouts and cancels reach the provider.
 */
export function convertedSource(source: ByteSource, convert: (data: string | null) => string): ByteSource {
  const decoder = new SseDecoder();
  async function* run(): AsyncGenerator<Buffer, void, undefined> {
    for await (const chunk of source) {
      let out = '';
      for (const e of decoder.push(chunk)) out += convert(e.data);
      if (out !== '') yield Buffer.from(out);
    }
    let tail = '';
    for (const e of decoder.end()) tail += convert(e.data);
    if (tail !== '') yield Buffer.from(tail);
  }
  const gen = run();
  return {
    [Symbol.asyncIterator]: () => gen,
    destroy: (err?: Error) => source.destroy(err),
  };
}
