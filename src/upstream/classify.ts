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

/**
 * Failures that asking the same provider again would only repeat (undici's retry handler keeps
 * such named lists too): an answer too large, a stream that opens with an error or with endless
 * padding, a host that does not exist, a certificate that does not verify, a reply that is not
 * HTTP. They switch provider at once. Every other network failure (refused, reset, timeouts,
 * closed sockets, codes not known here) is transient and retried.
 */
export const DETERMINISTIC_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_RES_EXCEEDED_MAX_SIZE',
  'UPSTREAM_STREAM_ERROR',
  'UPSTREAM_PRELUDE_TOO_LARGE',
  // A stream that stalled before its first token (SPEC §9): agents are better served elsewhere at once.
  'UPSTREAM_FIRST_TOKEN_TIMEOUT',
  'ENOTFOUND',
  'UND_ERR_INFO',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HPE_INVALID_CONSTANT',
  'HPE_INVALID_STATUS',
  'HPE_INVALID_HEADER_TOKEN',
]);

export function classify(outcome: TryOutcome): Verdict {
  switch (outcome.kind) {
    case 'network':
      return DETERMINISTIC_CODES.has(outcome.code) ? 'switch' : 'retry';
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
  UPSTREAM_STREAM_EMPTY: 'empty stream',
  UPSTREAM_STREAM_TRUNCATED: 'truncated stream',
  UPSTREAM_PRELUDE_TOO_LARGE: 'no data before the limit',
  UPSTREAM_FIRST_TOKEN_TIMEOUT: 'first token timeout',
  CERT_HAS_EXPIRED: 'TLS certificate error',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS certificate error',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS certificate error',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate error',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate error',
};
