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

/** Usage in chat terms, as the gateway counts it. */
export interface CountedUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** The part of the prompt read from the provider's cache. */
  cached_tokens?: number;
}

/** The provider settings that say whether it speaks a client format natively. */
export interface NativeCapable {
  type: string;
  native_responses: boolean;
  stream_support: boolean;
  non_stream_support: boolean;
}

/** Watches a native stream that passes through to the client: what to send for each event, its usage, its end. */
export interface NativeStreamWatcher {
  /** The bytes to send for one upstream event (its own bytes, unless the event names the model). */
  event(data: string | null, raw: Buffer): Buffer | string;
  /** The stream reached its terminal event. */
  readonly ended: boolean;
  readonly usage: CountedUsage | null;
  /** The bytes the upstream sent. */
  readonly bytes: number;
  /** A bounded sample of the generated text, for an estimate when no usage came. */
  generatedText(): string;
  /** The terminal error event of the format, for a stream that broke. */
  error(message: string): string;
}

/**
 * A format some providers speak themselves (`/v1/responses` to `native_responses`): requests go
 * to them untranslated, with only `model` rewritten, and answers come back as they are, naming
 * the client's model.
 */
/**
 * What an event of a stream that has sent nothing yet means for the first-token wait (SPEC §9):
 * `lifecycle` frames are held back, `content` (text, a tool call, reasoning, the end) lets the
 * stream through, an `error` fails the try.
 */
export type Progress = 'lifecycle' | 'content' | 'error';

export interface NativePassThrough {
  readonly endpoint: '/responses' | '/messages';
  /** Reads one event (its `event:` name and data) of such a provider's stream before its first content. */
  progress(event: string | null, data: string | null): Progress;
  /** Client headers such a provider also gets (`anthropic-beta`). */
  readonly forwardHeaders?: readonly string[];
  /** The provider speaks the format and can answer the way the client asked (else it is translated for). */
  accepts(p: NativeCapable, clientStream: boolean): boolean;
  /** The body sent to such a provider, from the client's. */
  body(client: Record<string, unknown>): Record<string, unknown>;
  /** A whole native answer for the client, and its usage. */
  answer(json: unknown, ctx: { model: string }): { body: unknown; usage: CountedUsage | null };
  stream(ctx: { model: string }): NativeStreamWatcher;
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
  /** Providers that speak this format natively are sent the request untranslated (after `parse`). */
  readonly native?: NativePassThrough;
}
