/**
 * The text of a Messages request, for a token estimate (`/v1/messages/count_tokens`): system,
 * message text, tool_use names and inputs, tool_result content, document text, tool definitions,
 * joined by newlines. Read leniently (the estimate is not a validation); images are not text and
 * are left out. Bounded: at most `COUNT_TEXT_MAX_CHARS` characters are kept, while `chars` is
 * the length the whole text would have had, so a caller can scale its estimate.
 */
import { isObject } from '../json.js';

export const COUNT_TEXT_MAX_CHARS = 1 << 20;

class Collector {
  private readonly parts: string[] = [];
  private kept = 0;
  chars = 0;

  add(s: string): void {
    if (s === '') return;
    const piece = this.chars === 0 ? s : `\n${s}`;
    this.chars += piece.length;
    if (this.kept >= COUNT_TEXT_MAX_CHARS) return;
    const room = COUNT_TEXT_MAX_CHARS - this.kept;
    const kept = piece.length <= room ? piece : piece.slice(0, room);
    this.parts.push(kept);
    this.kept += kept.length;
  }

  text(): string {
    return this.parts.join('');
  }
}

export function anthropicCountTokensText(body: unknown): { text: string; chars: number } {
  const c = new Collector();
  if (isObject(body)) {
    addContent(c, body.system);
    if (Array.isArray(body.messages)) for (const m of body.messages) if (isObject(m)) addContent(c, m.content);
    if (Array.isArray(body.tools)) {
      for (const t of body.tools) {
        if (!isObject(t)) continue;
        if (typeof t.name === 'string') c.add(t.name);
        if (typeof t.description === 'string') c.add(t.description);
        if (t.input_schema !== undefined) c.add(JSON.stringify(t.input_schema));
      }
    }
  }
  return { text: c.text(), chars: c.chars };
}

function addContent(c: Collector, content: unknown): void {
  if (typeof content === 'string') return c.add(content);
  if (!Array.isArray(content)) return;
  for (const b of content) {
    if (!isObject(b)) continue;
    if (b.type === 'text' && typeof b.text === 'string') c.add(b.text);
    else if (b.type === 'tool_use') {
      if (typeof b.name === 'string') c.add(b.name);
      if (b.input !== undefined) c.add(JSON.stringify(b.input));
    } else if (b.type === 'tool_result') addContent(c, b.content);
    else if (b.type === 'document' && isObject(b.source)) {
      if (b.source.type === 'text' && typeof b.source.data === 'string') c.add(b.source.data);
      else if (b.source.type === 'content') addContent(c, b.source.content);
    }
  }
}
