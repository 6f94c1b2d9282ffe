import { describe, expect, it } from 'vitest';
import { upstreamBody } from '../../src/upstream/request-body.js';
import { configFrom } from '../helpers/gateway.js';

const providerOf = (extra: Record<string, unknown>) =>
  configFrom({ m: { providers: [{ name: 'p', endpoint: 'http://127.0.0.1:1/v1', api_key: 'k', model: 'up', ...extra }] } }).providers.values().next().value!;

describe('the body a provider gets', () => {
  const body = { model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 128_000 };

  it('lowers max_tokens to max_output_tokens, and leaves smaller asks alone', () => {
    const capped = JSON.parse(upstreamBody(body, '/chat/completions', false, providerOf({ max_output_tokens: 16_384 })).payload);
    expect(capped.max_tokens).toBe(16_384);
    const small = JSON.parse(upstreamBody({ ...body, max_tokens: 100 }, '/chat/completions', false, providerOf({ max_output_tokens: 16_384 })).payload);
    expect(small.max_tokens).toBe(100);
    const none = JSON.parse(upstreamBody(body, '/chat/completions', false, providerOf({})).payload);
    expect(none.max_tokens).toBe(128_000);
    const completion = JSON.parse(upstreamBody({ ...body, max_tokens: undefined, max_completion_tokens: 50_000 }, '/chat/completions', false, providerOf({ max_output_tokens: 8000 })).payload);
    expect(completion.max_completion_tokens).toBe(8000);
  });

  it('sends the reasoning effort a translated request implies only to providers with reasoning: true', () => {
    expect(JSON.parse(upstreamBody(body, '/chat/completions', false, providerOf({ reasoning: true }), 'high').payload).reasoning_effort).toBe('high');
    expect(JSON.parse(upstreamBody(body, '/chat/completions', false, providerOf({}), 'high').payload)).not.toHaveProperty('reasoning_effort');
  });
});
