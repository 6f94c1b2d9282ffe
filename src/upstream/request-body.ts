import type { ProviderConfig } from '../config/load.js';
import type { Endpoint } from '../routing/plan.js';
import { adapterFor, type TryAdapter } from '../providers/index.js';

export interface UpstreamBody {
  payload: string;
  /** How this try's answer is read, for a provider that does not speak the OpenAI API. */
  adapter: TryAdapter | null;
  /** The provider is asked to stream (natively, or for the gateway to fold into one answer). */
  stream: boolean;
}

/**
 * The body one provider receives: the client's, with `model` replaced by the provider's.
 * Streams also ask for usage (`stream_options.include_usage`) so streamed tokens are counted;
 * a provider that can only answer one way is asked that way and the gateway converts.
 */
export function upstreamBody(body: Readonly<Record<string, unknown>>, endpoint: Endpoint, clientStream: boolean, p: ProviderConfig, reasoningEffort: string | null = null): UpstreamBody {
  const out: Record<string, unknown> = { ...body, model: p.model };
  if (endpoint === '/responses' || endpoint === '/messages') {
    // A native provider of the client's format: the client's body as it came; it was picked because it answers the way the client asked.
    const field = endpoint === '/responses' ? 'max_output_tokens' : 'max_tokens';
    const asked = out[field];
    if (p.max_output_tokens !== null && typeof asked === 'number' && asked > p.max_output_tokens) out[field] = p.max_output_tokens;
    return { payload: JSON.stringify(out), stream: clientStream, adapter: null };
  }
  // Only upstreams known to take it: others (gpt-4o, most open models) answer 400 to the field.
  if (reasoningEffort !== null && p.reasoning) out.reasoning_effort = reasoningEffort;
  const cap = p.max_output_tokens;
  if (cap !== null) {
    for (const field of ['max_tokens', 'max_completion_tokens'] as const) {
      const asked = out[field];
      if (typeof asked === 'number' && asked > cap) out[field] = cap;
    }
  }
  if (endpoint === '/embeddings') {
    const adapter = adapterFor(p, endpoint, out);
    return { payload: JSON.stringify(adapter ? adapter.payload : out), stream: false, adapter };
  }
  const stream = clientStream ? p.stream_support : !p.non_stream_support;
  if (stream) {
    out.stream = true;
    const options = typeof body.stream_options === 'object' && body.stream_options !== null ? body.stream_options : {};
    out.stream_options = { ...options, include_usage: true };
  } else if (clientStream) {
    delete out.stream;
    delete out.stream_options;
  }
  // A provider of another kind (Anthropic, Gemini) gets the same request in its own API.
  const adapter = adapterFor(p, endpoint, out);
  return { payload: JSON.stringify(adapter ? adapter.payload : out), stream, adapter };
}
