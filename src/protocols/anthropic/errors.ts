/** The Anthropic error body, `{"type":"error","error":{"type","message"}}`, by HTTP status. */

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

const BY_STATUS = new Map<number, AnthropicErrorType>([
  [400, 'invalid_request_error'],
  [401, 'authentication_error'],
  [403, 'permission_error'],
  [404, 'not_found_error'],
  [413, 'request_too_large'],
  [429, 'rate_limit_error'],
  [500, 'api_error'],
  [502, 'api_error'],
  [503, 'overloaded_error'],
  // Anthropic's own "overloaded" status; clients such as Claude Code retry it.
  [529, 'overloaded_error'],
]);

/** Anthropic uses `invalid_request_error` for 4xx statuses it does not list; other 5xx are `api_error`. */
export function anthropicErrorType(status: number): AnthropicErrorType {
  return BY_STATUS.get(status) ?? (status >= 400 && status < 500 ? 'invalid_request_error' : 'api_error');
}

export function anthropicError(status: number, message: string): { type: 'error'; error: { type: AnthropicErrorType; message: string } } {
  return { type: 'error', error: { type: anthropicErrorType(status), message } };
}
