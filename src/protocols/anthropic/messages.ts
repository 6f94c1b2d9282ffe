/**
 * Anthropic `system` and `messages` → chat messages: text, images, documents, tool_use and
 * tool_result, a system-role message where it stands. Thinking blocks and blocks chat has no
 * equivalent for are dropped; `cache_control` on any block is never read.
 */
import { isObject, nonEmptyString, type Json } from '../json.js';
import { ANTHROPIC_LIMITS, InvalidRequest as Invalid } from './limits.js';

/** Put before the text of a `tool_result` with `is_error: true`: chat `tool` messages have no error flag. */
export const TOOL_ERROR_PREFIX = '[tool error] ';
/** Stands for an image inside a `tool_result`: chat `tool` messages carry text only. */
export const TOOL_RESULT_IMAGE = '[image]';

/** The chat messages for a request's `system` and `messages` (validated as Anthropic would). */
export function chatMessages(system: unknown, messages: unknown): Json[] {
  const blocks = { used: 0 };
  const out: Json[] = [];
  const systemContent = systemText(system, 'system', blocks);
  if (systemContent) out.push({ role: 'system', content: systemContent });
  if (!Array.isArray(messages) || messages.length === 0) throw new Invalid('messages: a non-empty array is required.', 'messages');
  if (messages.length > ANTHROPIC_LIMITS.messages) throw new Invalid(`messages: at most ${ANTHROPIC_LIMITS.messages} messages.`, 'messages');
  messages.forEach((m, i) => addMessage(m, `messages.${i}`, out, blocks));
  return out;
}

/** A string, or an array of blocks each with a string `type` (counted against the block cap). */
function blockList(v: unknown, path: string, blocks: { used: number }): Json[] {
  if (typeof v === 'string') return [{ type: 'text', text: v }];
  if (!Array.isArray(v)) throw new Invalid(`${path}: must be a string or an array of content blocks.`, path);
  blocks.used += v.length;
  if (blocks.used > ANTHROPIC_LIMITS.blocks) throw new Invalid(`At most ${ANTHROPIC_LIMITS.blocks} content blocks in all.`, path);
  v.forEach((b, j) => {
    if (!isObject(b) || typeof b.type !== 'string') throw new Invalid(`${path}.${j}: a content block needs a string "type".`, `${path}.${j}`);
  });
  return v as Json[];
}

function text(b: Json, path: string): string {
  if (typeof b.text !== 'string') throw new Invalid(`${path}.text: must be a string.`, `${path}.text`);
  return b.text;
}

/** `system` or a system-role message: its text blocks joined; other blocks have no chat meaning. */
function systemText(v: unknown, path: string, blocks: { used: number }): string {
  if (v === undefined || v === null) return '';
  const list = blockList(v, path, blocks);
  return list.flatMap((b, j) => (b.type === 'text' ? [text(b, `${path}.${j}`)] : [])).join('\n\n');
}

function addMessage(m: unknown, path: string, out: Json[], blocks: { used: number }): void {
  if (!isObject(m)) throw new Invalid(`${path}: must be an object.`, path);
  if (m.role === 'system') {
    // Claude Code puts a system-role message inside `messages`; chat takes it where it stands.
    const content = systemText(m.content, `${path}.content`, blocks);
    if (content) out.push({ role: 'system', content });
    return;
  }
  if (m.role !== 'user' && m.role !== 'assistant') throw new Invalid(`${path}.role: must be "user", "assistant" or "system".`, `${path}.role`);
  const list = blockList(m.content, `${path}.content`, blocks);
  if (m.role === 'user') addUserMessage(list, `${path}.content`, out, blocks);
  else addAssistantMessage(list, `${path}.content`, out);
}

function addUserMessage(list: Json[], path: string, out: Json[], blocks: { used: number }): void {
  const parts: Json[] = [];
  list.forEach((b, j) => {
    const p = `${path}.${j}`;
    switch (b.type) {
      case 'text':
        parts.push({ type: 'text', text: text(b, p) });
        break;
      case 'image': {
        const url = imageUrl(b, p);
        if (url !== null) parts.push({ type: 'image_url', image_url: { url } });
        break;
      }
      case 'document': {
        const t = documentText(b);
        if (t !== null) parts.push({ type: 'text', text: t });
        break;
      }
      case 'tool_result':
        // Chat wants each result as its own `tool` message right after the assistant's calls,
        // so they go before whatever else this user message says.
        out.push(toolMessage(b, p, blocks));
        break;
      case 'tool_use':
        throw new Invalid(`${p}: tool_use blocks belong in assistant messages.`, p);
      default:
        // thinking, redacted_thinking, search_result, server-tool results: no chat equivalent.
        break;
    }
  });
  if (parts.length === 0) return;
  // Text only: one string (every chat upstream takes it; some reject part arrays).
  const textOnly = parts.every((p) => p.type === 'text');
  out.push({ role: 'user', content: textOnly ? parts.map((p) => p.text as string).join('\n\n') : parts });
}

function addAssistantMessage(list: Json[], path: string, out: Json[]): void {
  const texts: string[] = [];
  const calls: Json[] = [];
  list.forEach((b, j) => {
    const p = `${path}.${j}`;
    if (b.type === 'text') texts.push(text(b, p));
    else if (b.type === 'tool_use') {
      const id = nonEmptyString(b.id);
      const name = nonEmptyString(b.name);
      if (id === null) throw new Invalid(`${p}.id: a non-empty string is required.`, `${p}.id`);
      if (name === null) throw new Invalid(`${p}.name: a non-empty string is required.`, `${p}.name`);
      if (!isObject(b.input)) throw new Invalid(`${p}.input: must be an object.`, `${p}.input`);
      calls.push({ id, type: 'function', function: { name, arguments: JSON.stringify(b.input) } });
    } else if (b.type === 'tool_result') throw new Invalid(`${p}: tool_result blocks belong in user messages.`, p);
    // thinking / redacted_thinking carry Anthropic signatures no chat upstream can check: dropped.
  });
  const content = texts.join('\n\n');
  if (content === '' && calls.length === 0) return;
  const msg: Json = { role: 'assistant', content: content === '' ? null : content };
  if (calls.length > 0) msg.tool_calls = calls;
  out.push(msg);
}

/** A data URL or a URL; null for a Files API `file` source, which no chat upstream can resolve. */
function imageUrl(b: Json, path: string): string | null {
  const src = b.source;
  if (!isObject(src)) throw new Invalid(`${path}.source: must be an object.`, `${path}.source`);
  if (src.type === 'base64') {
    if (typeof src.media_type !== 'string' || typeof src.data !== 'string') {
      throw new Invalid(`${path}.source: base64 needs string "media_type" and "data".`, `${path}.source`);
    }
    return `data:${src.media_type};base64,${src.data}`;
  }
  if (src.type === 'url') {
    if (typeof src.url !== 'string') throw new Invalid(`${path}.source.url: must be a string.`, `${path}.source.url`);
    return src.url;
  }
  if (src.type === 'file') return null;
  throw new Invalid(`${path}.source.type: must be "base64", "url" or "file".`, `${path}.source.type`);
}

/** Plain-text and content-block documents become text; PDFs (base64, url, file) are dropped: chat has no document part. */
function documentText(b: Json): string | null {
  const src = b.source;
  if (!isObject(src)) return null;
  if (src.type === 'text' && typeof src.data === 'string') return src.data;
  if (src.type === 'content') {
    if (typeof src.content === 'string') return src.content;
    if (Array.isArray(src.content)) return textOf(src.content, '\n\n');
  }
  return null;
}

function textOf(list: unknown[], sep: string): string {
  return list.flatMap((c) => (isObject(c) && c.type === 'text' && typeof c.text === 'string' ? [c.text] : [])).join(sep);
}

function toolMessage(b: Json, path: string, blocks: { used: number }): Json {
  const id = nonEmptyString(b.tool_use_id);
  if (id === null) throw new Invalid(`${path}.tool_use_id: a non-empty string is required.`, `${path}.tool_use_id`);
  let content = '';
  if (b.content !== undefined && b.content !== null) {
    const list = blockList(b.content, `${path}.content`, blocks);
    content = list
      .flatMap((c) => {
        if (c.type === 'text' && typeof c.text === 'string') return [c.text];
        if (c.type === 'image') return [TOOL_RESULT_IMAGE];
        const doc = c.type === 'document' ? documentText(c) : null;
        return doc === null ? [] : [doc];
      })
      .join('\n');
  }
  return { role: 'tool', tool_call_id: id, content: b.is_error === true ? TOOL_ERROR_PREFIX + content : content };
}
