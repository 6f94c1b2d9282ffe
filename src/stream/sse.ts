/**
 * The one SSE decoder and encoder of the gateway.
 *
 * The decoder splits a byte stream into events without decoding what it does not need: it works
 * on bytes, cutting lines at LF, CRLF or CR (bytes that never occur inside a multi-byte UTF-8
 * character), so a character split across chunks is never broken, and it keeps each event's raw
 * bytes so a pass-through can forward them exactly as the upstream sent them. Only the `data`
 * of a complete event is decoded to text.
 */

export class SseEvent {
  private text: string | null | undefined;

  constructor(
    /** The event's bytes exactly as received, blank line included (absent on a final event that had none). */
    readonly raw: Buffer,
    /** The bytes of each `data:` line; empty when the block had none (a comment, a stray blank line). */
    readonly dataLines: readonly Buffer[],
    /** The `event:` field, when given. */
    readonly event: string | null,
  ) {}

  /** `data:` lines joined by `\n`, decoded on first use (a pass-through rarely needs it); null without data. */
  get data(): string | null {
    if (this.text === undefined) {
      const lines = this.dataLines;
      this.text = lines.length === 0 ? null : lines.length === 1 ? lines[0]!.toString('utf8') : lines.map((d) => d.toString('utf8')).join('\n');
    }
    return this.text;
  }

  get hasData(): boolean {
    return this.dataLines.length > 0;
  }

  /** Whether the raw bytes contain `needle` (no decoding). */
  includes(needle: Buffer): boolean {
    return this.raw.includes(needle);
  }
}

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;

export class SseDecoder {
  /** The unfinished event, from its first byte: parsed again, whole, once more bytes arrive. */
  private carry: Buffer | null = null;
  /** The bytes so far ended in a CR that ended an event: an LF first in the next chunk is its pair. */
  private endedInCR = false;

  push(chunk: Buffer): SseEvent[] {
    const skip = this.carry === null && this.endedInCR && chunk[0] === LF ? 1 : 0;
    const buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = null;
    this.endedInCR = false;
    return this.scan(buf, false, skip);
  }

  /** The stream ended: a last event without its blank line is still an event. */
  end(): SseEvent[] {
    const buf = this.carry;
    this.carry = null;
    return buf ? this.scan(buf, true) : [];
  }

  private scan(buf: Buffer, final: boolean, skip = 0): SseEvent[] {
    const out: SseEvent[] = [];
    const n = buf.length;
    let eventStart = 0;
    let dataLines: Buffer[] = [];
    let eventName: string | null = null;
    let i = skip;
    // The next CR, found once and reused: most streams have none, and looking again for every
    // line would scan the rest of the buffer each time.
    let nextCR = buf.indexOf(CR);
    while (i < n) {
      let lf = buf.indexOf(LF, i);
      if (lf === -1) lf = n;
      if (nextCR !== -1 && nextCR < i) nextCR = buf.indexOf(CR, i);
      let end = lf;
      let next = lf + 1;
      if (nextCR !== -1 && nextCR < lf) {
        end = nextCR;
        next = nextCR + 1 < n && buf[nextCR + 1] === LF ? nextCR + 2 : nextCR + 1;
        // A CR that ends the bytes so far may be the first half of a CRLF: the line ends here all
        // the same (an event is never held back waiting for its LF), and a leading LF of the next
        // chunk is skipped as its pair.
        if (next === n) this.endedInCR = true;
      } else if (lf === n) {
        break; // a partial line
      }
      if (end === i) {
        out.push(new SseEvent(buf.subarray(eventStart, next), dataLines, eventName));
        dataLines = [];
        eventName = null;
        eventStart = next;
      } else {
        const name = field(buf, i, end, dataLines);
        if (name !== null) eventName = name;
      }
      i = next;
    }
    if (eventStart < n) {
      if (final) {
        if (i < n) {
          const name = field(buf, i, n, dataLines);
          if (name !== null) eventName = name;
        }
        out.push(new SseEvent(buf.subarray(eventStart), dataLines, eventName));
      } else {
        this.carry = buf.subarray(eventStart);
      }
    }
    return out;
  }
}

/**
 * One field line `[start, end)`: a `data` value is added to `dataLines`; an `event` value is
 * returned; comments and other fields give null. Compared as bytes: nothing is decoded.
 */
function field(buf: Buffer, start: number, end: number, dataLines: Buffer[]): string | null {
  if (buf[start] === COLON) return null;
  let nameEnd = buf.indexOf(COLON, start);
  if (nameEnd === -1 || nameEnd > end) nameEnd = end;
  let valueStart = nameEnd === end ? end : nameEnd + 1;
  if (valueStart < end && buf[valueStart] === SPACE) valueStart++;
  const len = nameEnd - start;
  if (len === 4 && buf[start] === 0x64 && buf[start + 1] === 0x61 && buf[start + 2] === 0x74 && buf[start + 3] === 0x61) {
    dataLines.push(buf.subarray(valueStart, end));
  } else if (len === 5 && buf.toString('latin1', start, nameEnd) === 'event') {
    return buf.toString('utf8', valueStart, end);
  }
  return null;
}

export const DONE = '[DONE]';

/** One `data:` event; a multi-line payload becomes several `data:` lines. */
export function encodeEvent(data: unknown, event?: string): string {
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  const head = event ? `event: ${event}\n` : '';
  return `${head}data: ${text.split(/\r\n|\r|\n/).join('\ndata: ')}\n\n`;
}

export const DONE_EVENT = encodeEvent(DONE);
