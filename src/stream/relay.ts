import type { StreamTap } from './tap.js';
import type { UpstreamStream } from './upstream-stream.js';

export interface RelayOptions {
  /** The client asked for usage (`stream_options.include_usage`). */
  clientWantsUsage: boolean;
  /** A usage event with the gateway's estimate, for a client that asked for usage from a provider that reported none. */
  estimatedUsageEvent: () => Promise<string>;
  /** The event that ends a client's stream that broke: the terminal error of its format. */
  errorEvent: () => string;
}

/** How a relayed stream ended: `error` is null when it ended as the upstream meant it to. */
export interface RelayEnd {
  error: string | null;
}

/**
 * A passed-through stream, as the bytes to write to the client: each network chunk's events as
 * they arrived (one buffer per chunk), less what the tap drops. When the client asked for usage
 * and the provider sent none, an estimated usage chunk goes before `[DONE]`. A stream that
 * breaks, or ends without `[DONE]` or a finish reason, ends with the format's error event and
 * no `[DONE]`, so the client can tell the answer is incomplete. Stopping the iteration early
 * (the client left) cancels the upstream.
 */
export async function* relay(stream: UpstreamStream, tap: StreamTap, opts: RelayOptions): AsyncGenerator<Buffer, RelayEnd, undefined> {
  let ended = false;
  let usageAdded = false;
  const addUsage = async (): Promise<Buffer> => {
    usageAdded = true;
    return Buffer.from(await opts.estimatedUsageEvent());
  };
  try {
    try {
      for await (const batch of stream.batches()) {
        const out: Buffer[] = [];
        for (const e of batch) {
          const wasDone = tap.done;
          if (!tap.forward(e)) continue;
          if (!wasDone && tap.done && opts.clientWantsUsage && tap.usage === null) out.push(await addUsage());
          out.push(e.raw);
        }
        if (out.length > 0) yield out.length === 1 ? out[0]! : Buffer.concat(out);
      }
    } catch (err) {
      ended = true;
      yield Buffer.from(opts.errorEvent());
      return { error: (err as { code?: string }).code ?? 'stream error' };
    }
    ended = true;
    if (!tap.done && !tap.finished) {
      yield Buffer.from(opts.errorEvent());
      return { error: 'UPSTREAM_STREAM_TRUNCATED' };
    }
    if (opts.clientWantsUsage && tap.usage === null && !usageAdded) yield await addUsage();
    return { error: null };
  } finally {
    if (!ended) stream.cancel();
  }
}
