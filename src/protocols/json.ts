/** Small readers shared by the translation modules: every input is `unknown` JSON. */

export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function nonEmptyString(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/** A count as an upstream reports it: a non-negative integer, else 0. */
export function count(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : 0;
}

/** The first `max` UTF-16 units of `s`, never ending on half a surrogate pair. */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  const cut = s.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

/** One server-sent event as the Anthropic SDK reads it: an `event:` line, then the data. */
export function sse(type: string, data: Json): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Data read before a stream's first content is parsed only up to this size; larger is content (it carries something). */
const MAX_PROGRESS_DATA = 256 * 1024;

/** An event's data as an object, for the first-token wait: undefined when absent, too large or not a JSON object. */
export function progressData(data: string | null): Json | undefined {
  if (data === null || data.length > MAX_PROGRESS_DATA) return undefined;
  try {
    const v: unknown = JSON.parse(data);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
