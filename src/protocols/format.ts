/**
 * What every client-facing wire format provides, so that the request path never branches on
 * a format's name: read a request into the internal (Chat Completions) form, write a whole
 * answer and a stream back in the format, and render errors the way its clients expect.
 */

/** An error to render: what the gateway or an upstream said, in neutral terms. */
export interface ErrorInfo {
  status: number;
  /** OpenAI `type` (`invalid_request_error`, `rate_limit_error`…). */
  type: string;
  code: string | null;
  message: string;
  param: string | null;
}

export type ParseResult =
  | {
    ok: true;
    /** The internal request (a Chat Completions body for translated formats). */
    body: Record<string, unknown>;
    /** The public model the client asked for. */
    model: string;
    stream: boolean;
    /** The client asked for usage in its stream (chat's `stream_options.include_usage`). */
    clientWantsUsage: boolean;
    /**
     * `reasoning_effort` the client's request implies (Anthropic `thinking`), sent only to
     * providers that take it (`reasoning: true`); null when none.
     */
    reasoningEffort: string | null;
    /** What of the request a chat provider cannot take and was left out (hosted tools), for the log. */
    dropped?: readonly string[];
  }
  | { ok: false; message: string; param: string | null };

/** A per-request translator of internal stream chunks into the format's events. */
export interface StreamTranslator {
  /** The events to send for one parsed chat chunk (possibly ''). */
  push(chunk: unknown): string;
  /** The same for a chunk that carried only a piece of text (recognized without a parse). */
  pushText(piece: string): string;
  /** The events that end the stream, with the usage known by then. */
  end(usage: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: unknown } | null): string;
  /** The terminal error event of a stream that broke; nothing follows it. */
  error(message: string): string;
  /** A keep-alive event during long silences, when the format has one. */
  ping?(): string;
}

export interface ClientFormat {
  /** For logs and metric labels: a fixed word per format. */
  readonly name: string;
  /** The internal endpoint the translated request is sent to. */
  readonly endpoint: '/chat/completions' | '/completions' | '/embeddings';
  parse(body: unknown): ParseResult;
  /**
   * A whole internal answer in the format; null when the upstream's bytes go to the client
   * as they are (the format is the internal one).
   */
  answer(json: unknown, ctx: { model: string; id: string }): unknown;
  /** A stream translator; null when the stream passes through as it is. */
  stream(ctx: { model: string; id: string }): StreamTranslator | null;
  /** An error body in the format. */
  error(e: ErrorInfo): unknown;
  /** A new id for an answer (`msg_…`), or null when the upstream's id is kept. */
  newId(): string | null;
}
