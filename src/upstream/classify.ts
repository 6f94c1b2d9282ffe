/**
 * What one try's outcome means for the request (SPEC §3). Pure and table-tested.
 *
 * - success: answer the client.
 * - retry: the provider may recover: try it again after a short backoff, while retries last.
 * - switch: this provider cannot serve the request now: go to the next one at once.
 * - return: the request itself is wrong: hand the upstream's answer to the client unchanged.
 */
export type Verdict = 'success' | 'retry' | 'switch' | 'return';

export type TryOutcome =
  | { kind: 'status'; status: number }
  /** No usable answer: connection refused or reset, timeout, DNS, TLS (undici or errno code). */
  | { kind: 'network'; code: string }
  /** A 2xx whose body is not what the endpoint promises (HTML, invalid JSON, empty). */
  | { kind: 'invalid' };

/** A provider that refuses the gateway or is out of its own quota: another may serve at once. */
export const SWITCH_STATUSES: ReadonlySet<number> = new Set([401, 403, 429]);

export function classify(outcome: TryOutcome): Verdict {
  switch (outcome.kind) {
    case 'network':
    case 'invalid':
      return 'retry';
    case 'status': {
      const s = outcome.status;
      if (s >= 200 && s < 300) return 'success';
      if (s >= 500) return 'retry';
      if (SWITCH_STATUSES.has(s)) return 'switch';
      if (s >= 400) return 'return';
      // 1xx and 3xx: redirects are never followed (they would carry the key elsewhere),
      // and asking the same provider again gives the same answer.
      return 'switch';
    }
  }
}

/** Short words for an outcome, for logs and the 502 message: never a host, URL or key. */
export function describe(outcome: TryOutcome): string {
  if (outcome.kind === 'status') return String(outcome.status);
  if (outcome.kind === 'invalid') return 'invalid response';
  return NETWORK_WORDS[outcome.code] ?? 'network error';
}

const NETWORK_WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_CLOSED: 'connection closed',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'truncated response',
  UND_ERR_RES_EXCEEDED_MAX_SIZE: 'response too large',
  UND_ERR_INFO: 'invalid response',
  UPSTREAM_STREAM_ERROR: 'error event in stream',
};
