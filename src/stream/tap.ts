import { Aggregator, isUsageOnlyChunk, readUsage, type CompletionKind, type Usage } from './convert.js';
import { DONE, SseEvent } from './sse.js';

/** Usage with a non-null object: OpenAI sends `"usage":null` on every chunk once usage is asked for. */
const HAS_USAGE = /"usage"\s*:\s*\{/;
const USAGE_BYTES = Buffer.from('"usage"');
const DONE_BYTES = Buffer.from(DONE);

/**
 * Watches a passed-through stream without changing it: notes the usage the upstream reports
 * and says which events to drop (only the usage chunk the gateway asked for on the client's
 * behalf). Chunks are parsed only when they carry usage; the rest is kept as text and parsed
 * only if the stream ends without usage and it must be estimated.
 */
export class StreamTap {
  usage: Usage | null = null;
  done = false;
  /** Events with data, kept undecoded until an estimate needs them. */
  private readonly seen: SseEvent[] = [];

  constructor(
    private readonly kind: CompletionKind,
    /** The client did not ask for usage: the gateway did, so the usage chunk is not the client's. */
    private readonly dropUsageChunk: boolean,
  ) {}

  /** True when the event goes to the client. */
  forward(event: SseEvent): boolean {
    if (!event.hasData) return true;
    // Decoded only when it may matter: [DONE] is tiny, and usage shows in the bytes.
    if (event.raw.length < 32 && event.includes(DONE_BYTES) && event.data === DONE) {
      this.done = true;
      return true;
    }
    if (event.includes(USAGE_BYTES) && HAS_USAGE.test(event.data ?? '')) {
      try {
        const chunk: unknown = JSON.parse(event.data ?? '');
        const usage = readUsage((chunk as { usage?: unknown }).usage);
        if (usage) this.usage = usage;
        if (this.dropUsageChunk && isUsageOnlyChunk(chunk)) return false;
      } catch {
        /* not JSON: forwarded as it is */
      }
    }
    if (this.usage === null) this.seen.push(event);
    return true;
  }

  /** Everything generated so far, for an estimate when no usage was reported. */
  generatedText(): string {
    const agg = new Aggregator(this.kind);
    for (const e of this.seen) {
      try {
        agg.add(JSON.parse(e.data ?? ''));
      } catch {
        /* skip */
      }
    }
    return agg.generatedText();
  }
}
