import { randomBytes } from 'node:crypto';
import { anthropicError, anthropicToChat, AnthropicStream, chatToAnthropic } from './anthropic.js';
import type { ClientFormat, ParseResult } from './format.js';
import { messagesProgress, nativeMessage, NativeMessagesStream } from './anthropic/native.js';

/** Ids unique per process (a random prefix) and across instances: a counter after it costs no random bytes per request. */
const ID_PREFIX = randomBytes(12).toString('base64url');
let idSeq = 0;

/**
 * The Anthropic Messages API in front (`POST /v1/messages`): requests translated to chat,
 * answers and streams back to Messages, errors as `{"type":"error","error":{type,message}}`.
 */
export const messagesFormat: ClientFormat = {
  name: 'anthropic',
  endpoint: '/chat/completions',
  parse(body): ParseResult {
    const r = anthropicToChat(body);
    if (!r.ok) return r;
    const chat = r.chat;
    const effort = typeof chat.reasoning_effort === 'string' ? chat.reasoning_effort : null;
    delete chat.reasoning_effort;
    return { ok: true, body: chat, model: r.model, stream: r.stream, clientWantsUsage: false, reasoningEffort: effort };
  },
  answer: (json, ctx) => chatToAnthropic(json, ctx),
  stream: (ctx) => new AnthropicStream(ctx),
  error: (e) => anthropicError(e.status, e.message),
  newId: () => `msg_${ID_PREFIX}${(++idSeq).toString(36).padStart(8, '0')}`,
  native: {
    endpoint: '/messages',
    // Betas change what a body means (context management, effort…): the provider must hear them.
    forwardHeaders: ['anthropic-beta'],
    accepts: (p, clientStream) => p.type === 'anthropic' && (clientStream ? p.stream_support : p.non_stream_support),
    progress: messagesProgress,
    body: (client) => client,
    answer: (json, ctx) => nativeMessage(json, ctx.model),
    stream: (ctx) => new NativeMessagesStream(ctx.model),
  },
};
