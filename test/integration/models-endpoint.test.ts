import OpenAI, { NotFoundError } from 'openai';
import { describe, expect, it } from 'vitest';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call } from '../helpers/http.js';

/** `GET /v1/models/{id}`: what `client.models.retrieve()` asks (SPEC §7). */
const fx = useUpstreamDouble();
const KEY = 'gw-models-key-0001';

const start = () =>
  fx.gateway({
    _global: { api_key: KEY },
    'gpt-4o': { providers: [provider('p', fx.double.url('p'))] },
    'meta-llama/Llama-3.3-70B': { providers: [provider('q', fx.double.url('q'))] },
    'all-off': { providers: [provider('r', fx.double.url('r'), { enabled: false })] },
  });

describe('GET /v1/models/{id}', () => {
  it('answers the model object to the official client, names with a slash included', async () => {
    const gw = await start();
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY, maxRetries: 0 });
    expect(await client.models.retrieve('gpt-4o')).toEqual({ id: 'gpt-4o', object: 'model', created: 0, owned_by: 'api-gateway' });
    expect((await client.models.retrieve('meta-llama/Llama-3.3-70B')).id).toBe('meta-llama/Llama-3.3-70B');
  });

  it('answers 404 model_not_found for an unknown model and one with every provider disabled', async () => {
    const gw = await start();
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY, maxRetries: 0 });
    await expect(client.models.retrieve('nope')).rejects.toBeInstanceOf(NotFoundError);
    const r = await call(`${gw.url}/v1/models/all-off`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('model_not_found');
  });

  it('needs the gateway key like every /v1 route', async () => {
    const gw = await start();
    expect((await call(`${gw.url}/v1/models/gpt-4o`)).status).toBe(401);
  });
});
