import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUpstreamDouble, type UpstreamDouble } from '../../tools/upstream-double.js';
import { provider, startGateway, type RunningGateway } from '../helpers/gateway.js';

let double: UpstreamDouble;
let gw: RunningGateway;
let client: OpenAI;
const KEY = 'gw-openai-client-key-1';

beforeAll(async () => {
  double = await createUpstreamDouble();
  gw = await startGateway({
    _global: { api_key: KEY },
    'gpt-4o-mini': { providers: [provider('primary', double.url('primary')), provider('backup', double.url('backup'), { priority: 2 })] },
    'text-embedding-3-small': { providers: [provider('emb', double.url('emb'))] },
  });
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY, maxRetries: 0 });
});
afterAll(async () => {
  await gw.close();
  await double.close();
});

describe('the official openai client (6.x) against the gateway', () => {
  it('lists models', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids.sort()).toEqual(['gpt-4o-mini', 'text-embedding-3-small']);
  });

  it('creates a chat completion', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
    expect(r.choices[0]?.message.content).toBe('Hello from primary');
    expect(r.usage?.total_tokens).toBeGreaterThan(0);
  });

  it('streams a chat completion', async () => {
    double.script('primary', { content: 'one two three four', chunks: 4 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe('one two three four');
    expect(finish).toBe('stop');
  });

  it('creates embeddings', async () => {
    const r = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b', 'c'] });
    expect(r.data).toHaveLength(3);
    expect(r.data[2]?.embedding).toHaveLength(4);
  });

  it('sees failover as an ordinary answer and gateway errors as API errors', async () => {
    double.script('primary', { status: 500, times: 4 });
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
    expect(r.choices[0]?.message.content).toBe('Hello from backup');
    const err = await client.chat.completions.create({ model: 'nope', messages: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    const bad = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await expect(bad.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
