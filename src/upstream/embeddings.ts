import { isObject, type Json } from '../protocols/json.js';

/**
 * An embeddings answer in the encoding the client asked for (`encoding_format`: `float`, the
 * default, or `base64`, which the official `openai` client asks for), whatever the provider
 * returned: some OpenAI-compatible providers ignore the field. Base64 is the vector's
 * little-endian float32 bytes, as OpenAI sends it. Returns null when nothing had to change.
 */
export function inEncoding(json: unknown, encoding: unknown): Json | null {
  if (!isObject(json) || !Array.isArray(json.data)) return null;
  const base64 = encoding === 'base64';
  let changed = false;
  const data = json.data.map((d) => {
    if (!isObject(d)) return d;
    const e = d.embedding;
    if (base64 && Array.isArray(e)) {
      changed = true;
      return { ...d, embedding: Buffer.from(new Float32Array(e.map(Number)).buffer).toString('base64') };
    }
    if (!base64 && typeof e === 'string') {
      changed = true;
      const bytes = Buffer.from(e, 'base64');
      return { ...d, embedding: Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.length / 4))) };
    }
    return d;
  });
  return changed ? { ...json, data } : null;
}
