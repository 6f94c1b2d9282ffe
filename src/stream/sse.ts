/**
 * The one SSE decoder and encoder of the gateway.
 *
 * The decoder splits a byte stream into events without decoding what it does not need: it works
 * on bytes, cutting lines at LF, CRLF or CR (bytes that never occur inside a multi-byte UTF-8
 * character), so a character split across chunks is never broken, and it keeps each event's raw
 * bytes so a pass-through can forward them exactly as the upstream sent them. Only the `data`
 * of a complete event is decoded to text.
 */

export interface SseEvent {
  /** The event's bytes exactly as received, blank line included (absent on a final event that had none). */
  raw: Buffer;
  /** `data:` lines joined by `\n`; null when the block had no data line (a comment, a stray blank line). */
  data: string | null;
  /** The `event:` field, when given. */
  event: string | null;
}

const LF = 0x0a;
const CR = 0x0d;

export class SseDecoder {
  /** Bytes of the event being read that were not yet cut into lines. */
  private pending: Buffer[] = [];
  private pendingSize = 0;
  /** Raw bytes of the complete lines of the current event. */
  private eventRaw: Buffer[] = [];
  private dataLines: Buffer[] = [];
  private eventName: string | null = null;
  /** The last chunk ended in CR: an LF at the start of the next one belongs to that line end. */
  private afterCR = false;

  push(chunk: Buffer): SseEvent[] {
    const out: SseEvent[] = [];
    let start = 0;
    let i = 0;
    if (this.afterCR && chunk.length > 0) {
      this.afterCR = false;
      if (chunk[0] === LF) {
        this.eventRaw.push(chunk.subarray(0, 1));
        start = i = 1;
      }
    }
    for (; i < chunk.length; i++) {
      const b = chunk[i];
      if (b !== LF && b !== CR) continue;
      let end = i + 1;
      if (b === CR) {
        if (i + 1 < chunk.length) {
          if (chunk[i + 1] === LF) end = i + 2;
        } else {
          this.afterCR = true;
        }
      }
      const line = this.takeLine(chunk.subarray(start, i));
      this.eventRaw.push(chunk.subarray(i, end));
      const event = this.line(line);
      if (event) out.push(event);
      start = end;
      i = end - 1;
    }
    if (start < chunk.length) {
      this.pending.push(chunk.subarray(start));
      this.pendingSize += chunk.length - start;
    }
    return out;
  }

  /** The stream ended: a last event without its blank line is still an event. */
  end(): SseEvent[] {
    if (this.pendingSize > 0) {
      const line = this.takeLine(Buffer.alloc(0));
      this.line(line);
    }
    this.afterCR = false;
    return this.eventRaw.length === 0 ? [] : [this.finish()];
  }

  /** Joins the pending bytes with the rest of the line, and records the line in the event's raw bytes. */
  private takeLine(tail: Buffer): Buffer {
    let line = tail;
    if (this.pendingSize > 0) {
      this.pending.push(tail);
      line = Buffer.concat(this.pending, this.pendingSize + tail.length);
      this.pending = [];
      this.pendingSize = 0;
    }
    this.eventRaw.push(line);
    return line;
  }

  private line(line: Buffer): SseEvent | null {
    if (line.length === 0) return this.finish();
    if (line[0] === 0x3a) return null; // ':' comment
    const colon = line.indexOf(0x3a);
    const field = (colon === -1 ? line : line.subarray(0, colon)).toString('latin1');
    let value = colon === -1 ? Buffer.alloc(0) : line.subarray(colon + 1);
    if (value[0] === 0x20) value = value.subarray(1);
    if (field === 'data') this.dataLines.push(value);
    else if (field === 'event') this.eventName = value.toString('utf8');
    return null;
  }

  private finish(): SseEvent {
    const raw = this.eventRaw.length === 1 && this.eventRaw[0] ? this.eventRaw[0] : Buffer.concat(this.eventRaw);
    let data: string | null = null;
    if (this.dataLines.length > 0) {
      data = this.dataLines.length === 1 && this.dataLines[0]
        ? this.dataLines[0].toString('utf8')
        : this.dataLines.map((d) => d.toString('utf8')).join('\n');
    }
    const event = { raw, data, event: this.eventName };
    this.reset();
    return event;
  }

  private reset(): void {
    this.eventRaw = [];
    this.dataLines = [];
    this.eventName = null;
  }
}

export const DONE = '[DONE]';

/** One `data:` event; a multi-line payload becomes several `data:` lines. */
export function encodeEvent(data: unknown, event?: string): string {
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  const head = event ? `event: ${event}\n` : '';
  return `${head}data: ${text.split(/\r\n|\r|\n/).join('\ndata: ')}\n\n`;
}

export const DONE_EVENT = encodeEvent(DONE);
