import { Aggregator, isUsageOnlyChunk, readUsage, type CompletionKind, type Usage } from './convert.js';
import { DONE, type SseEvent } from './sse.js';

/** Usage with a non-null object: OpenAI sends `"usage":null` on every chunk once usage is asked for. */
const HAS_USAGE = /"usage"\s*:\s*\{/;

/**
 * Watches a passed-through stream without changing it: notes the usage the upstream reports
 * and says which events to drop (only the usage chunk the gateway asked for on the client's
 * behalf). Chunks are parsed only when they carry usage; the rest is kept as text and parsed
 * only if the stream ends without usage and it must be estimated.
 */
export class StreamTap {
  usage: Usage | null = null;
  done = false;
  private readonly seen: string[] = [];

  constructor(
    private readonly kind: CompletionKind,
    /** The client did not ask for usage: the gateway did, so the usage chunk is not the client's. */
    private readonly dropUsageChunk: boolean,
  ) {}

  /** True when the event goes to the client. */
  forward(event: SseEvent): boolean {
    const data = event.data;
    if (data === null) return true;
    if (data === DONE) {
      this.done = true;
      return true;
    }
    if (HAS_USAGE.test(data)) {
      try {
        const chunk: unknown = JSON.parse(data);
        const usage = readUsage((chunk as { usage?: unknown }).usage);
        if (usage) this.usage = usage;
        if (this.dropUsageChunk && isUsageOnlyChunk(chunk)) return false;
      } catch {
        /* not JSON: forwarded as it is */
      }
    }
    if (this.usage === null) this.seen.push(data);
    return true;
  }

  /** Everything generated so far, for an estimate when no usage was reported. */
  generatedText(): string {
    const agg = new Aggregator(this.kind);
    for (const data of this.seen) {
      try {
        agg.add(JSON.parse(data));
      } catch {
        /* skip */
      }
    }
    return agg.generatedText();
  }
}
