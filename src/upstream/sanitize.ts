/**
 * An upstream's error answer made safe to show the client: the provider's own words stay (they
 * explain what was wrong with the request) but no URL, host, IP address or key fragment does.
 * A body that is not an OpenAI-style JSON error becomes one.
 */
export function sanitizeUpstreamError(body: Buffer, status: number, secrets: readonly string[], hosts: readonly string[]): Buffer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    parsed = null;
  }
  const error = (parsed as { error?: unknown } | null)?.error;
  if (typeof error === 'object' && error !== null) {
    const e = error as Record<string, unknown>;
    const clean = {
      message: typeof e.message === 'string' ? scrub(e.message, secrets, hosts) : `The provider refused the request (HTTP ${status}).`,
      type: typeof e.type === 'string' ? scrub(e.type, secrets, hosts) : 'invalid_request_error',
      param: typeof e.param === 'string' ? scrub(e.param, secrets, hosts) : null,
      code: typeof e.code === 'string' || typeof e.code === 'number' ? scrub(String(e.code), secrets, hosts) : null,
    };
    return Buffer.from(JSON.stringify({ error: clean }));
  }
  const message = typeof error === 'string' ? scrub(error, secrets, hosts) : `The provider refused the request (HTTP ${status}).`;
  return Buffer.from(JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: 'upstream_error' } }));
}

const URL_RE = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;
const IPV4_RE = /\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b/g;
const IPV6_RE = /\[[0-9a-f:]+\](?::\d+)?/gi;
/** Key-shaped words: `sk-…`, `sk-proj-****abcd`, long hex or base64-like tokens. */
const KEY_RE = /\b(?:sk|pk|rk|key|api|token)[-_][A-Za-z0-9*_.-]{4,}|\b[A-Za-z0-9*]{0,8}\*{3,}[A-Za-z0-9*]{0,8}|\b[A-Fa-f0-9]{32,}\b|\b[A-Za-z0-9+/_-]{40,}={0,2}/g;

export function scrub(text: string, secrets: readonly string[], hosts: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4 && out.includes(s)) out = out.replaceAll(s, '[redacted]');
  out = out.replace(URL_RE, '[url]');
  for (const h of hosts) if (h && out.toLowerCase().includes(h.toLowerCase())) out = out.replace(new RegExp(escapeRe(h), 'gi'), '[host]');
  return out.replace(IPV6_RE, '[host]').replace(IPV4_RE, '[host]').replace(KEY_RE, '[redacted]');
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
