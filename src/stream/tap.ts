import { chunkOf, chunkText, isUsageOnlyChunk, readUsage, type CompletionKind, type Usage } from './convert.js';
import { DONE, SseEvent } from './sse.js';

/** Usage with a non-null object: OpenAI sends `"usage":null` on every chunk once usage is asked for. */
const HAS_USAGE = /"usage"\s*:\s*\{/;
const USAGE_BYTES = Buffer.from('"usage"');
const DONE_BYTES = Buffer.from(DONE);
const FINISH_BYTES = Buffer.from('"finish_reason"');
/** A finish reason that is a string (not `null`). */
const HAS_FINISH = /"finish_reason"\s*:\s*"/;

/** Events held undecoded, at most, before they are folded into the text sample. */
const PENDING_BYTES = 64 * 1024;
/** Generated text kept for an estimate: counted exactly, the rest extrapolated from its length. */
const SAMPLE_CHARS = 16 * 1024;

/**
 * Watches a passed-through stream without changing it: notes the usage the upstream reports,
 * whether the stream finished (a finish reason or `[DONE]`), and says which events to drop
 * (only the usage chunk the gateway asked for on the client's behalf). Chunks are parsed only
 * when they carry usage; the others are held as bytes, at most PENDING_BYTES of them, and
 * folded into a bounded sample of the generated text only while no usage was reported, so a
 * stream of any length costs a bounded amount of memory.
 */
export class StreamTap {
  usage: Usage | null = null;
  /** `[DONE]` was seen. */
  done = false;
  /** A choice finished (a finish reason that is not null). */
  finished = false;
  /** Bytes of every event seen. */
  bytes = 0;
  /** The first chunk's `id`, `created` and `model`, for a chunk the gateway adds. */
  head: { id: unknown; created: unknown; model: unknown } | null = null;
  private pending: SseEvent[] = [];
  private pendingBytes = 0;
  private sample = '';
  private chars = 0;

  constructor(
    private readonly kind: CompletionKind,
    /** The client did not ask for usage: the gateway did, so the usage chunk is not the client's. */
    private readonly dropUsageChunk: boolean,
  ) {}

  /** True when the event goes to the client. */
  forward(event: SseEvent): boolean {
    this.bytes += event.raw.length;
    if (!event.hasData) return true;
    // Decoded only when it may matter: [DONE] is tiny, and usage shows in the bytes.
    if (event.raw.length < 32 && event.includes(DONE_BYTES) && event.data === DONE) {
      this.done = true;
      return true;
    }
    if (this.head === null) this.head = headOf(event.data ?? '');
    if (!this.finished && event.includes(FINISH_BYTES) && HAS_FINISH.test(event.data ?? '')) this.finished = true;
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
    if (this.usage === null) {
      this.pending.push(event);
      this.pendingBytes += event.raw.length;
      if (this.pendingBytes > PENDING_BYTES) this.fold();
    } else if (this.pending.length > 0) {
      this.pending = [];
      this.pendingBytes = 0;
    }
    return true;
  }

  /**
   * The same for an event already known to carry only a piece of text (`textOnlyChunk`): no
   * usage, no finish reason, nothing to drop; its text is noted as it is.
   */
  forwardText(event: SseEvent, text: string): void {
    this.bytes += event.raw.length;
    if (this.head === null) this.head = headOf(event.data ?? '');
    if (this.usage !== null) return;
    this.fold();
    this.chars += text.length;
    if (this.sample.length < SAMPLE_CHARS) this.sample += text.slice(0, SAMPLE_CHARS - this.sample.length);
  }

  /** The start of everything generated so far (at most SAMPLE_CHARS), for an estimate when no usage was reported. */
  generatedText(): string {
    this.fold();
    return this.sample;
  }

  /** Bytes this tap holds on to: events not yet folded, and the text sample. */
  retainedBytes(): number {
    return this.pendingBytes + this.sample.length * 2;
  }

  /** How many characters were generated in all (the sample may hold only the start). */
  generatedChars(): number {
    this.fold();
    return this.chars;
  }

  private fold(): void {
    for (const e of this.pending) {
      const text = chunkText(this.kind, chunkOf(e.data ?? ''));
      this.chars += text.length;
      if (this.sample.length < SAMPLE_CHARS) this.sample += text.slice(0, SAMPLE_CHARS - this.sample.length);
    }
    this.pending = [];
    this.pendingBytes = 0;
  }
}

/** Parsed once per stream; a first event that is not a JSON object gives an empty head (never parsed again). */
function headOf(data: string): NonNullable<StreamTap['head']> {
  try {
    const c = JSON.parse(data) as Record<string, unknown> | null;
    if (typeof c === 'object' && c !== null) return { id: c.id, created: c.created, model: c.model };
  } catch {
    /* not JSON */
  }
  return { id: undefined, created: undefined, model: undefined };
}
