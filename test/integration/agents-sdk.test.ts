import { Agent, OpenAIProvider, Runner, setTracingDisabled, tool } from '@openai/agents';
import OpenAI from 'openai';
import { z } from 'zod';
import { describe, expect, it, vi } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';

/**
 * The OpenAI Agents SDK (`@openai/agents`) with its Responses model (`useResponses: true`) and an
 * `openai` client pointed at the gateway: an agent with one function tool runs to completion
 * through `/v1/responses`, translated onto an OpenAI-format chat provider (the upstream double).
 */
const fx = useUpstreamDouble();
const KEY = 'gw-agents-sdk-key-01';

// Nothing may go to api.openai.com (the default trace exporter would).
setTracingDisabled(true);

interface ChatMessage {
  role: string;
  content?: unknown;
  tool_call_id?: string;
  tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>;
}
interface ChatBody {
  model: string;
  stream?: boolean;
  messages: ChatMessage[];
  tools?: Array<{ type: string; function: { name: string; description?: string; parameters?: unknown } }>;
}

const start = () =>
  fx.gateway({
    _global: { api_key: KEY, default_retry: 0 },
    'gw-agent': { providers: [provider('p', fx.double.url('p'))] },
  });

/** A runner whose models are Responses models on an `openai` client aimed at this gateway. */
function runnerFor(gw: RunningGateway): Runner {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY, maxRetries: 0 });
  return new Runner({ modelProvider: new OpenAIProvider({ openAIClient: client, useResponses: true }), tracingDisabled: true });
}

function weatherAgent() {
  const execute = vi.fn(async ({ city }: { city: string }) => `Sunny, 22 °C in ${city}`);
  const getWeather = tool({
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: z.object({ city: z.string() }),
    execute,
  });
  const agent = new Agent({ name: 'Weather', instructions: 'You answer questions about the weather.', model: 'gw-agent', tools: [getWeather] });
  return { agent, execute };
}

function scriptWeather(): void {
  fx.double.script('p',
    { toolCall: { name: 'get_weather', arguments: '{"city":"Paris"}', id: 'call_weather_1' } },
    { content: 'It is sunny in Paris' });
}

async function responseLogs(gw: RunningGateway, n: number): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + 2000;
  const lines = () => gw.logs.filter((l) => String(l.path).startsWith('/v1/responses'));
  while (Date.now() < deadline && lines().length < n) await new Promise((r) => setTimeout(r, 10));
  return lines();
}

/** The two upstream requests of a tool round trip, checked the same way for both kinds of run. */
function expectToolRoundTrip(stream: boolean): void {
  const got = fx.double.received('p');
  expect(got).toHaveLength(2);
  expect(got.map((r) => r.path)).toEqual(['/p/v1/chat/completions', '/p/v1/chat/completions']);
  const first = got[0]!.body as ChatBody;
  expect(first.model).toBe('upstream-p');
  expect(first.stream === true).toBe(stream);
  // instructions became the first message, the input string the user message.
  expect(['system', 'developer']).toContain(first.messages[0]?.role);
  expect(JSON.stringify(first.messages[0]?.content)).toContain('You answer questions about the weather.');
  expect(first.messages.at(-1)).toMatchObject({ role: 'user' });
  expect(JSON.stringify(first.messages.at(-1)?.content)).toContain('What is the weather in Paris?');
  expect(first.tools).toHaveLength(1);
  expect(first.tools![0]).toMatchObject({
    type: 'function',
    function: { name: 'get_weather', description: 'The weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
  });
  for (const field of ['input', 'instructions', 'include', 'store']) expect(first, field).not.toHaveProperty(field);

  const second = got[1]!.body as ChatBody;
  const asked = second.messages.find((m) => m.role === 'assistant' && m.tool_calls?.length);
  expect(asked?.tool_calls?.[0]).toMatchObject({ id: 'call_weather_1', type: 'function', function: { name: 'get_weather' } });
  expect(JSON.parse(asked!.tool_calls![0]!.function.arguments)).toEqual({ city: 'Paris' });
  const result = second.messages.find((m) => m.role === 'tool');
  expect(result?.tool_call_id).toBe('call_weather_1');
  expect(JSON.stringify(result?.content)).toContain('Sunny, 22 °C in Paris');
}

describe('OpenAI Agents SDK (Responses model) through /v1/responses', () => {
  it('runs an agent with a function tool to completion', async () => {
    const gw = await start();
    scriptWeather();
    const { agent, execute } = weatherAgent();
    const result = await runnerFor(gw).run(agent, 'What is the weather in Paris?');

    expect(execute).toHaveBeenCalledTimes(1);
    expect(execute.mock.calls[0]![0]).toEqual({ city: 'Paris' });
    expect(result.finalOutput).toBe('It is sunny in Paris');
    expect(result.rawResponses).toHaveLength(2);
    for (const r of result.rawResponses) expect(r.responseId).toMatch(/^resp_/);
    expect(result.lastResponseId).toBe(result.rawResponses[1]!.responseId);
    expect(result.rawResponses[0]!.usage.inputTokens).toBeGreaterThan(0);
    expect(result.rawResponses[0]!.usage.outputTokens).toBeGreaterThan(0);
    expectToolRoundTrip(false);

    const lines = await responseLogs(gw, 2);
    expect(lines.map((l) => [l.path, l.status, l.model])).toEqual([['/v1/responses', 200, 'gw-agent'], ['/v1/responses', 200, 'gw-agent']]);
  });

  it('streams a run with a function tool: text stream, final output, completion', async () => {
    const gw = await start();
    scriptWeather();
    const { agent, execute } = weatherAgent();
    const result = await runnerFor(gw).run(agent, 'What is the weather in Paris?', { stream: true });
    let text = '';
    for await (const piece of result.toTextStream()) text += piece;
    await result.completed;

    expect(result.error).toBeNull();
    expect(execute).toHaveBeenCalledTimes(1);
    expect(execute.mock.calls[0]![0]).toEqual({ city: 'Paris' });
    expect(text).toBe('It is sunny in Paris');
    expect(result.finalOutput).toBe('It is sunny in Paris');
    expect(result.lastResponseId).toMatch(/^resp_/);
    expectToolRoundTrip(true);

    const lines = await responseLogs(gw, 2);
    expect(lines.map((l) => [l.path, l.status])).toEqual([['/v1/responses', 200], ['/v1/responses', 200]]);
  });

  it('continues a conversation with previousResponseId (the stored response is replayed upstream)', async () => {
    const gw = await start();
    scriptWeather();
    const { agent } = weatherAgent();
    const runner = runnerFor(gw);
    const first = await runner.run(agent, 'What is the weather in Paris?');
    expect(first.finalOutput).toBe('It is sunny in Paris');

    fx.double.script('p', { content: 'Tomorrow too.' });
    const next = await runner.run(agent, 'And tomorrow?', { previousResponseId: first.lastResponseId! });
    expect(next.finalOutput).toBe('Tomorrow too.');

    const got = fx.double.received('p');
    expect(got).toHaveLength(3);
    // The whole earlier conversation went upstream again, then the new question.
    const third = JSON.stringify((got[2]!.body as ChatBody).messages);
    for (const part of ['What is the weather in Paris?', 'call_weather_1', 'Sunny, 22 °C in Paris', 'It is sunny in Paris', 'And tomorrow?']) {
      expect(third).toContain(part);
    }
    expect((got[2]!.body as ChatBody).messages.at(-1)).toMatchObject({ role: 'user' });
  });
});
