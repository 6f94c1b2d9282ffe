import { chunkOf, textOnlyChunk, type Usage } from './convert.js';
import type { SseEvent } from './sse.js';
import type { StreamTap } from './tap.js';
import type { UpstreamStream } from './upstream-stream.js';
import type { NativeStreamWatcher, StreamTranslator } from '../protocols/format.js';

/** How a relayed stream ended: `error` is null when it ended as the upstream meant it to. */
export interface RelayEnd {
  error: string | null;
}

/** What one way of relaying does with a stream's events: the one part that differs between them. */
interface RelaySink<T> {
  /** What to write for one network chunk's events (null: nothing). */
  batch(events: SseEvent[]): Promise<T | null> | T | null;
  /** What to write after a stream that ended as it should (null: nothing). */
  end(): Promise<T | null>;
  /** The terminal error of the client's format, for a stream that broke or was cut short. */
  error(): T;
}

/**
 * The skeleton every relayed stream shares: each network chunk's events through the tap and
 * the sink, written as they arrive; a stream that breaks, or ends without `[DONE]` or a finish
 * reason, ends with the format's error event (and no `[DONE]`), so the client can tell the answer
 * is incomplete. Stopping the iteration early (the client left) cancels the upstream.
 */
async function* relayWith<T>(stream: UpstreamStream, endedWell: () => boolean, sink: RelaySink<T>): AsyncGenerator<T, RelayEnd, undefined> {
  let ended = false;
  try {
    try {
      for await (const events of stream.batches()) {
        const out = await sink.batch(events);
        if (out !== null) yield out;
      }
    } catch (err) {
      ended = true;
      yield sink.error();
      return { error: (err as { code?: string }).code ?? 'stream error' };
    }
    ended = true;
    if (!endedWell()) {
      yield sink.error();
      return { error: 'UPSTREAM_STREAM_TRUNCATED' };
    }
    const last = await sink.end();
    if (last !== null) yield last;
    return { error: null };
  } finally {
    if (!ended) stream.cancel();
  }
}

export interface RelayOptions {
  /** The client asked for usage (`stream_options.include_usage`). */
  clientWantsUsage: boolean;
  /** A usage event with the gateway's estimate, for a client that asked for usage from a provider that reported none. */
  estimatedUsageEvent: () => Promise<string>;
  /** The event that ends a client's stream that broke: the terminal error of its format. */
  errorEvent: () => string;
}

/**
 * A chat stream passed through: the upstream's own bytes, one buffer per network chunk, less
 * what the tap drops. When the client asked for usage and the provider sent none, an estimated
 * usage chunk goes before `[DONE]` (or at the end, when no `[DONE]` came).
 */
export function relay(stream: UpstreamStream, tap: StreamTap, opts: RelayOptions): AsyncGenerator<Buffer, RelayEnd, undefined> {
  let usageAdded = false;
  const usageWanted = (): boolean => opts.clientWantsUsage && tap.usage === null && !usageAdded;
  const addUsage = async (): Promise<Buffer> => {
    usageAdded = true;
    return Buffer.from(await opts.estimatedUsageEvent());
  };
  return relayWith<Buffer>(stream, () => tap.done || tap.finished, {
    async batch(events) {
      const out: Buffer[] = [];
      for (const e of events) {
        const wasDone = tap.done;
        if (!tap.forward(e)) continue;
        if (!wasDone && tap.done && usageWanted()) out.push(await addUsage());
        out.push(e.raw);
      }
      return out.length === 0 ? null : out.length === 1 ? out[0]! : Buffer.concat(out);
    },
    end: async () => (usageWanted() ? addUsage() : null),
    error: () => Buffer.from(opts.errorEvent()),
  });
}

/**
 * A chat stream translated into the client's format on the fly: each chunk read once (the
 * common text chunk without a whole parse) and handed to the format's translator; the tap still
 * notes usage and whether the stream finished. The end carries the provider's usage (the
 * translator saw it in the chunks) or, when it reported none, the gateway's estimate.
 */
export function translate(stream: UpstreamStream, tap: StreamTap, t: StreamTranslator, estimate: () => Promise<Usage>): AsyncGenerator<string, RelayEnd, undefined> {
  return relayWith<string>(stream, () => tap.done || tap.finished, {
    batch(events) {
      let out = '';
      for (const e of events) {
        const data = e.data;
        const text = data === null ? null : textOnlyChunk(data);
        if (text !== null) {
          tap.forwardText(e, text);
          out += t.pushText(text);
          continue;
        }
        tap.forward(e);
        if (data === null) continue;
        const chunk = chunkOf(data);
        if (chunk !== undefined) out += t.push(chunk);
      }
      return out === '' ? null : out;
    },
    end: async () => t.end(tap.usage === null ? await estimate() : null),
    error: () => t.error('The upstream provider broke off the stream, or ended it before its end; the answer is incomplete.'),
  });
}

/**
 * A stream in the client's own format from a provider that speaks it (`native_responses`):
 * passed through event by event, as the format's watcher says (it rewrites only the events that
 * name the model, and notes the usage and the terminal event).
 */
export function passNative(stream: UpstreamStream, w: NativeStreamWatcher): AsyncGenerator<Buffer | string, RelayEnd, undefined> {
  return relayWith<Buffer | string>(stream, () => w.ended, {
    batch(events) {
      if (events.length === 1) return w.event(events[0]!.data, events[0]!.raw);
      const out: Buffer[] = [];
      for (const e of events) {
        const b = w.event(e.data, e.raw);
        out.push(typeof b === 'string' ? Buffer.from(b) : b);
      }
      return out.length === 0 ? null : Buffer.concat(out);
    },
    end: async () => null,
    error: () => w.error('The upstream provider broke off the stream, or ended it before its end; the answer is incomplete.'),
  });
}
