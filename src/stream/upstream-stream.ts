import { Aggregator, chunkOf, type CompletionKind } from './convert.js';
import { DONE, SseDecoder, type SseEvent } from './sse.js';
import { chatProgress, type Progress } from './first-content.js';

/** The bytes of an upstream answer: undici's body, or any stream of buffers that can be destroyed. */
export interface ByteSource extends AsyncIterable<Buffer> {
  destroy(err?: Error): unknown;
}

/** A failure of a stream, with a code the outcome classifier knows (`upstream/classify.ts`). */
export class StreamFailure extends Error {
  constructor(readonly code: StreamFailureCode, message: string) {
    super(message);
  }
}

export type StreamFailureCode =
  /** The stream ended before its first event with data. */
  | 'UPSTREAM_STREAM_EMPTY'
  /** More than the allowed bytes of comments and lifecycle frames came before the first content. */
  | 'UPSTREAM_PRELUDE_TOO_LARGE'
  /** An error event came before the first content (`data: {"error":…}` under a 200). */
  | 'UPSTREAM_STREAM_ERROR'
  /** The stream ended without `[DONE]` and without a finish reason (or before any content). */
  | 'UPSTREAM_STREAM_TRUNCATED'
  | 'UND_ERR_RES_EXCEEDED_MAX_SIZE';

/**
 * A streamed upstream answer as one value: the events of every network chunk, in batches (one
 * batch per chunk, so a pass-through writes once per chunk), the batch read while opening it
 * replayed first; and `cancel()`, which lets go of the connection. Built by `open`, which reads
 * up to the first content (`stream/first-content.ts`): until then nothing reached the client, so a stream that
 * fails there is a failed try and the request can still fail over.
 */
export class UpstreamStream {
  private replay: SseEvent[] | null;

  private constructor(
    first: SseEvent[],
    private readonly decoder: SseDecoder,
    private readonly rest: AsyncIterator<Buffer>,
    private readonly source: ByteSource,
    /** Bytes read so far. */
    public bytes: number,
  ) {
    this.replay = first;
  }

  /**
   * Reads until the first event with content (`progress`, SPEC §9): lifecycle frames and comments
   * before it are kept, to be relayed after it, up to `maxPreludeBytes`. An error before any
   * content, or an end without any, fails the stream: nothing reached the client, so the request
   * can still fail over. The wait is bounded by whoever owns the source: destroying it makes this
   * throw.
   */
  static async open(source: ByteSource, maxPreludeBytes: number, progress: (e: SseEvent) => Progress = chatProgress): Promise<UpstreamStream> {
    const decoder = new SseDecoder();
    const rest = source[Symbol.asyncIterator]();
    const events: SseEvent[] = [];
    let bytes = 0;
    let seen = 0;
    const firstContent = (): boolean => {
      for (; seen < events.length; seen++) {
        const p = progress(events[seen]!);
        if (p === 'content') return true;
        if (p === 'error') {
          source.destroy();
          throw new StreamFailure('UPSTREAM_STREAM_ERROR', 'the stream began with an error event');
        }
      }
      return false;
    };
    for (;;) {
      const next = await rest.next();
      if (next.done) {
        for (const e of decoder.end()) events.push(e);
        if (firstContent()) break;
        source.destroy();
        if (events.some((e) => e.hasData)) throw new StreamFailure('UPSTREAM_STREAM_TRUNCATED', 'the stream ended before its first content');
        throw new StreamFailure('UPSTREAM_STREAM_EMPTY', 'the stream ended before its first event');
      }
      bytes += next.value.length;
      for (const e of decoder.push(next.value)) events.push(e);
      if (firstContent()) break;
      if (bytes > maxPreludeBytes) {
        source.destroy();
        throw new StreamFailure('UPSTREAM_PRELUDE_TOO_LARGE', 'too many bytes before the first content');
      }
    }
    return new UpstreamStream(events, decoder, rest, source, bytes);
  }

  /** The events, batch by batch; the last batch is what the decoder held when the bytes ended. */
  async *batches(): AsyncGenerator<SseEvent[], void, undefined> {
    if (this.replay) {
      const first = this.replay;
      this.replay = null;
      yield first;
    }
    for (;;) {
      const next = await this.rest.next();
      if (next.done) {
        const last = this.decoder.end();
        if (last.length > 0) yield last;
        return;
      }
      this.bytes += next.value.length;
      yield this.decoder.push(next.value);
    }
  }

  /** Lets go of the upstream at once (the provider stops generating). */
  cancel(): void {
    this.source.destroy();
  }
}

/**
 * Folds a whole stream into one answer, for a client that asked for JSON from a provider that
 * only streams. A stream cut before its end (`[DONE]` or a finish reason), over `cap` bytes,
 * or carrying an error event fails, so the try fails and the request can fail over.
 */
export async function foldStream(stream: UpstreamStream, kind: CompletionKind, cap: number): Promise<Record<string, unknown>> {
  const agg = new Aggregator(kind);
  let done = false;
  try {
    for await (const batch of stream.batches()) {
      if (stream.bytes > cap) throw new StreamFailure('UND_ERR_RES_EXCEEDED_MAX_SIZE', 'response too large');
      for (const e of batch) {
        const data = e.data;
        if (data === null) continue;
        if (data === DONE) {
          done = true;
          continue;
        }
        const chunk = chunkOf(data);
        if (chunk === undefined) continue;
        if (typeof chunk === 'object' && chunk !== null && 'error' in chunk) throw new StreamFailure('UPSTREAM_STREAM_ERROR', 'error event in the stream');
        agg.add(chunk);
      }
    }
  } catch (err) {
    stream.cancel();
    throw err;
  }
  if (!done && !agg.finished()) throw new StreamFailure('UPSTREAM_STREAM_TRUNCATED', 'the stream ended before its end');
  return agg.result();
}
