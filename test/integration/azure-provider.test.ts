import OpenAI, { AzureOpenAI } from 'openai';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';

/**
 * Providers of `type: "azure"` (SPEC §7): deployment URLs with `api-version`, or the v1 API when
 * `api_version` is unset, and the key in `api-key`. The double's Azure routes are first checked
 * with the official client's own Azure class, so they are the paths Azure OpenAI serves.
 */
const fx = useUpstreamDouble();
const KEY = 'gw-azure-test-key';
const AZ_KEY = 'azure-key-0123456789';

/** The double's base for a provider, as an Azure resource's `…/openai` endpoint. */
const azureBase = (name: string) => fx.double.url(name).replace(/\/v1$/, '/openai');

const start = (az: Record<string, unknown> = { api_version: '2024-10-21' }) =>
  fx.gateway({
    _global: { api_key: KEY, default_retry: 0 },
    'gpt-4o': {
      providers: [
        provider('az', azureBase('az'), { type: 'azure', api_key: AZ_KEY, model: 'gpt-4o-deployment', ...az }),
        provider('oa', fx.double.url('oa'), { priority: 2 }),
      ],
    },
  });
const client = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: KEY, maxRetries: 0 });
const received = (p: string, i = 0) => fx.double.received(p)[i]!;

describe('the double serves Azure OpenAI paths as the official AzureOpenAI client calls them', () => {
  it('deployment URL with api-version, api-key header', async () => {
    const az = new AzureOpenAI({ endpoint: fx.double.url('direct').replace(/\/v1$/, ''), apiKey: 'k', apiVersion: '2024-10-21', deployment: 'dep-1', maxRetries: 0 });
    const r = await az.chat.completions.create({ model: 'ignored', messages: [{ role: 'user', content: 'hi' }] });
    expect(r.choices[0]?.message.content).toBe('Hello from direct');
    expect(received('direct').path).toBe('/direct/openai/deployments/dep-1/chat/completions?api-version=2024-10-21');
    expect(received('direct').headers['api-key']).toBe('k');
  });
});

describe('type azure', () => {
  it('chat goes to the deployment URL with api-version and the key as api-key, never as Authorization', async () => {
    const gw = await start();
    const r = await client(gw.url).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    expect(r.choices[0]?.message.content).toBe('Hello from az');
    expect(received('az').path).toBe('/az/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21');
    expect(received('az').headers['api-key']).toBe(AZ_KEY);
    expect(received('az').headers.authorization).toBeUndefined();
  });

  it('streams, legacy completions and embeddings on the same deployment', async () => {
    const gw = await start();
    const c = client(gw.url);
    const stream = await c.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello from az');
    await c.completions.create({ model: 'gpt-4o', prompt: 'hi' });
    const e = await c.embeddings.create({ model: 'gpt-4o', input: ['a', 'b'] });
    expect(e.data).toHaveLength(2);
    expect(fx.double.received('az').map((r) => r.path.split('?')[0])).toEqual([
      '/az/openai/deployments/gpt-4o-deployment/chat/completions',
      '/az/openai/deployments/gpt-4o-deployment/completions',
      '/az/openai/deployments/gpt-4o-deployment/embeddings',
    ]);
  });

  it('the admin view names the type and api_version, and masks the key', async () => {
    const gw = await start();
    const r = await fetch(`${gw.url}/admin/providers/gpt-4o`, { headers: { authorization: `Bearer ${KEY}` } });
    const az = ((await r.json()) as { providers: Array<Record<string, unknown>> }).providers[0]!;
    expect(az).toMatchObject({ name: 'az', type: 'azure', api_version: '2024-10-21' });
    expect(JSON.stringify(az)).not.toContain(AZ_KEY);
  });

  it('without api_version: the v1 API, the model in the body', async () => {
    const gw = await start({});
    await client(gw.url).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    expect(received('az').path).toBe('/az/openai/v1/chat/completions');
    expect((received('az').body as { model: string }).model).toBe('gpt-4o-deployment');
    expect(received('az').headers['api-key']).toBe(AZ_KEY);
  });

  it('fails over between an Azure and an OpenAI provider of one model', async () => {
    const gw = await start();
    fx.double.script('az', { status: 503 });
    const r = await client(gw.url).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    expect(r.choices[0]?.message.content).toBe('Hello from oa');
    expect(received('oa').headers.authorization).toBe('Bearer sk-test-oa-secret-key');
  });

  it('/v1/responses is translated to chat on the deployment, or passed through natively', async () => {
    const gw = await start({ api_version: '2025-04-01-preview', native_responses: true });
    const r = await client(gw.url).responses.create({ model: 'gpt-4o', input: 'hi' });
    expect(r.output_text).toBe('Hello from az');
    expect(received('az').path).toBe('/az/openai/deployments/gpt-4o-deployment/responses?api-version=2025-04-01-preview');
  });
});

describe('provider type validation', () => {
  const errorsOf = (p: Record<string, unknown>): string[] => {
    const r = parseConfig(JSON.stringify({ m: { providers: [{ name: 'x', endpoint: 'https://e.example/v1', api_key: 'k', model: 'u', ...p }] } }), { env: {}, tz: 'UTC' });
    return r.ok ? [] : r.errors;
  };

  it('an unknown type is an error naming the field and the types served', () => {
    expect(errorsOf({ type: 'bedrock' })).toEqual(['model "m", provider "x": type: unknown provider type "bedrock" (one of openai, azure, anthropic, gemini)']);
    expect(errorsOf({ type: 'Azure' })[0]).toContain('unknown provider type "Azure"');
  });

  it('api_version only for azure, and only plain characters', () => {
    expect(errorsOf({ api_version: '2024-10-21' })).toEqual(['model "m", provider "x": api_version: only for providers of type "azure"']);
    expect(errorsOf({ type: 'azure', api_version: '2024&x=1' })[0]).toContain('api_version: letters, digits');
    expect(errorsOf({ type: 'azure', api_version: '2024-10-21' })).toEqual([]);
  });

  it('type defaults to openai: older files stay valid', () => {
    expect(errorsOf({})).toEqual([]);
  });
});
