/** Readers of chat message parts that every provider translation shares. */
import { isObject, type Json } from '../protocols/json.js';

/** The text of a chat `content`: the string, or its text parts joined. */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (isObject(p) && typeof p.text === 'string' ? p.text : '')).join('');
}

const DATA_URL = /^data:([a-z]+\/[a-z0-9.+-]+);base64,(.*)$/is;

/** A base64 data URL's media type (lower case) and data; null for any other URL. */
export function dataUrl(url: string): { mediaType: string; data: string } | null {
  const m = DATA_URL.exec(url);
  return m ? { mediaType: m[1]!.toLowerCase(), data: m[2]! } : null;
}

/** The URL of an `image_url` part (`{url}` or, from lax clients, the string itself). */
export function imageUrlOf(part: Json): string | null {
  const url = isObject(part.image_url) ? part.image_url.url : part.image_url;
  return typeof url === 'string' ? url : null;
}

/** A tool call's arguments as an object: parsed, `{}` when they are not a JSON object. */
export function argsObject(args: unknown): Json {
  if (typeof args !== 'string' || args === '') return {};
  try {
    const v: unknown = JSON.parse(args);
    return isObject(v) ? v : {};
  } catch {
    return {};
  }
}
