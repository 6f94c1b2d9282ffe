import type { StreamTranslator } from '../protocols/format.js';
import { textOnlyChunk, type Usage } from './convert.js';
import type { RelayEnd } from './relay.js';
import { DONE } from './sse.js';
import type { StreamTap } from './tap.js';
import type { UpstreamStream } from './upstream-stream.js';

/**
 * A chat stream translated into another format on the fly: each chunk is parsed once and handed
 * to the format's translator; the tap still notes usage and whether the stream finished. The
 * end carries the provider's usage (seen by the translator in the chunks) or, when it reported
 * none, the gateway's estimate. A break, or an end without `[DONE]` or a finish reason, ends
 * with the format's terminal error. Stopping early (the client left) cancels the upstream.
 */
export async function* translate(stream: UpstreamStream, tap: StreamTap, t: StreamTranslator, estimate: () => Promise<Usage>): AsyncGenerator<string, RelayEnd, undefined> {
  let ended = false;
  try {
    try {
      for await (const batch of stream.batches()) {
        let out = '';
        for (const e of batch) {
          tap.forward(e);
          const data = e.data;
          if (data === null || data === DONE) continue;
          const text = textOnlyChunk(data);
          if (text !== null) {
            out += t.pushText(text);
            continue;
          }
          let chunk: unknown;
          try {
            chunk = JSON.parse(data);
          } catch {
            continue;
          }
          out += t.push(chunk);
        }
        if (out !== '') yield out;
      }
    } catch (err) {
      ended = true;
      yield t.error('The upstream provider broke off the stream; the answer is incomplete.');
      return { error: (err as { code?: string }).code ?? 'stream error' };
    }
    ended = true;
    if (!tap.done && !tap.finished) {
      yield t.error('The upstream provider ended the stream before its end; the answer is incomplete.');
      return { error: 'UPSTREAM_STREAM_TRUNCATED' };
    }
    yield t.end(tap.usage === null ? await estimate() : null);
    return { error: null };
  } finally {
    if (!ended) stream.cancel();
  }
}
