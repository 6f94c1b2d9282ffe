/** Bounds on what a client controls, and the refusal every validation throws. */

/** Bounds on what a client controls; past them the request is refused, never trimmed. */
export const ANTHROPIC_LIMITS = Object.freeze({
  messages: 10_000,
  /** Content blocks in all: system, messages, and inside tool results. */
  blocks: 100_000,
  tools: 1_000,
  stopSequences: 1_000,
  modelChars: 256,
  /** Chat `user` (OpenAI documents 64 as its limit; Claude Code's user_id is ~150 characters). */
  userChars: 64,
  sessionIdChars: 256,
});

/** A request Anthropic would refuse: the message and the path of the field at fault. */
export class InvalidRequest extends Error {
  constructor(
    message: string,
    readonly param: string | null,
  ) {
    super(message);
  }
}
