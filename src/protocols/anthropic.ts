/**
 * The Anthropic Messages API (`anthropic-version: 2023-06-01`) ⇄ the gateway's internal form,
 * Chat Completions, as pure functions: request in, answer out, stream state machine, errors,
 * and the text for a token count. No I/O and no clock: ids and token counts come in as arguments.
 */
export { anthropicToChat, effortForBudget } from './anthropic/request.js';
export { ANTHROPIC_LIMITS } from './anthropic/limits.js';
export { TOOL_ERROR_PREFIX, TOOL_RESULT_IMAGE } from './anthropic/messages.js';
export type { AnthropicToChatOptions, AnthropicToChatResult } from './anthropic/request.js';
export { anthropicUsage, chatToAnthropic, stopReasonFor, toolInput } from './anthropic/answer.js';
export type { AnthropicStopReason, AnthropicUsage, ChatUsage } from './anthropic/answer.js';
export { AnthropicStream, MAX_STREAM_TOOL_CALLS } from './anthropic/stream.js';
export type { AnthropicStreamOptions } from './anthropic/stream.js';
export { anthropicError, anthropicErrorType } from './anthropic/errors.js';
export type { AnthropicErrorType } from './anthropic/errors.js';
export { anthropicCountTokensText, COUNT_TEXT_MAX_CHARS } from './anthropic/count.js';
