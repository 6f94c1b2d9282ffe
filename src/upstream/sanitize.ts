import type { ErrorInfo } from '../protocols/format.js';

/**
 * An upstream's error answer made safe to show the client: the provider's own words stay (they
 * explain what was wrong with the request) but no URL, host, IP address or key fragment does.
 * A body that is not an OpenAI-style JSON error becomes one.
 */
export function sanitizeUpstreamError(body: Buffer, status: number, secrets: readonly string[], hosts: readonly string[]): Buffer {
  const e = upstreamErrorInfo(body, status, secrets, hosts);
  return Buffer.from(JSON.stringify({ error: { message: e.message, type: e.type, param: e.param, code: e.code } }));
}

/** The same, in neutral terms, for the client's format to render (`protocols/format.ts`). */
export function upstreamErrorInfo(body: Buffer, status: number, secrets: readonly string[], hosts: readonly string[]): ErrorInfo {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    parsed = null;
  }
  const error = (parsed as { error?: unknown } | null)?.error;
  if (typeof error === 'object' && error !== null) {
    const e = error as Record<string, unknown>;
    return {
      status,
      message: typeof e.message === 'string' ? scrub(e.message, secrets, hosts) : `The provider refused the request (HTTP ${status}).`,
      type: typeof e.type === 'string' ? scrub(e.type, secrets, hosts) : 'invalid_request_error',
      param: typeof e.param === 'string' ? scrub(e.param, secrets, hosts) : null,
      code: typeof e.code === 'string' || typeof e.code === 'number' ? scrub(String(e.code), secrets, hosts) : null,
    };
  }
  const message = typeof error === 'string' ? scrub(error, secrets, hosts) : `The provider refused the request (HTTP ${status}).`;
  return { status, message, type: 'invalid_request_error', param: null, code: 'upstream_error' };
}

/**
 * The most of an upstream's text a client is shown (a provider's message is a sentence or two).
 * Cutting before scrubbing bounds the work whatever the provider sends.
 */
export const MAX_SCRUBBED_CHARS = 2048;

// Every pattern is linear: a repeated part is either bounded ({0,32}, {1,5}) or cannot overlap
// the next start's attempt, so a long adversarial text costs one pass, not one pass per position.
const URL_RE = /\b[a-z][a-z0-9+.-]{0,31}:\/\/[^\s"'<>]+/gi;
const IPV4_RE = /\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b/g;
const IPV6_RE = /\[[0-9a-f:]+\](?::\d{1,5})?/gi;
/** Key-shaped words: `sk-…`, `sk-proj-****abcd`, long hex or base64-like tokens. */
const KEY_RE = /\b(?:sk|pk|rk|key|api|token)[-_][A-Za-z0-9*_.-]{4,}|\b[A-Za-z0-9*]{0,8}\*{3,}[A-Za-z0-9*]{0,8}|\b[A-Fa-f0-9]{32,}\b|\b[A-Za-z0-9+/_-]{40,}={0,2}/g;
/** Where a word ends, for the cut: what URL, address and key patterns never run across. */
const WORD_END = /[\s"'<>()[\]{},;]/;

/**
 * Removes keys (`secrets`), hosts, URLs, IP addresses and key-shaped words from `text`, cut to
 * `maxChars` (with an ellipsis) first.
 */
export function scrub(text: string, secrets: readonly string[], hosts: readonly string[], maxChars = MAX_SCRUBBED_CHARS): string {
  const cut = text.length > maxChars;
  let out = cut ? cutAt(text, maxChars, secrets, hosts) : text;
  for (const s of secrets) if (s.length >= 4 && out.includes(s)) out = out.replaceAll(s, '[redacted]');
  out = out.replace(URL_RE, '[url]');
  for (const h of hosts) if (h && out.toLowerCase().includes(h.toLowerCase())) out = out.replace(new RegExp(escapeRe(h), 'gi'), '[host]');
  out = out.replace(IPV6_RE, '[host]').replace(IPV4_RE, '[host]').replace(KEY_RE, '[redacted]');
  return cut ? `${out}…` : out;
}

/**
 * The first `maxChars` of `text`, without what the cut splits: half a key, host or address is no
 * longer recognised by the patterns, so the word the cut falls in goes, and so does any end
 * that begins a configured secret or host (a secret may hold a space).
 */
function cutAt(text: string, maxChars: number, secrets: readonly string[], hosts: readonly string[]): string {
  let out = text.slice(0, maxChars);
  let end = out.length;
  while (end > 0 && !WORD_END.test(out[end - 1]!)) end--;
  out = out.slice(0, end);
  const literals = [...secrets, ...hosts].filter((s) => s.length > 0).map((s) => s.toLowerCase());
  // Trimming for one literal may expose the start of another; each can do so once.
  for (let changed = true, rounds = 0; changed && rounds <= literals.length; rounds++) {
    changed = false;
    const lower = out.toLowerCase();
    for (const s of literals) {
      for (let k = Math.min(s.length - 1, lower.length); k > 0; k--) {
        if (lower.endsWith(s.slice(0, k))) {
          out = out.slice(0, -k);
          changed = true;
          break;
        }
      }
      if (changed) break;
    }
  }
  return out;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
