import { describe, expect, it } from 'vitest';
import { AnthropicStream } from '../../src/protocols/anthropic.js';
import { textOnlyChunk } from '../../src/stream/convert.js';

const head = '"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini"';
const chunk = (delta: string, rest = ',"logprobs":null,"finish_reason":null', tail = '') => `{${head},"choices":[{"index":0,"delta":${delta}${rest}}]${tail}}`;

describe('textOnlyChunk: the common chunk read without a whole parse', () => {
  it.each([
    ['plain', chunk('{"content":"Hello"}'), 'Hello'],
    ['escapes and unicode', chunk('{"content":"a \\"q\\" \\\\ \\n \\u00e9 中"}'), 'a "q" \\ \n é 中'],
    ['usage null, fingerprint, no logprobs', `{${head},"system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}],"usage":null}`, 'x'],
    ['empty text', chunk('{"content":""}'), ''],
  ])('%s', (_name, data, text) => {
    expect(textOnlyChunk(data)).toBe(text);
    // Never different from what a whole parse reads.
    expect((JSON.parse(data) as { choices: Array<{ delta: { content: string } }> }).choices[0]!.delta.content).toBe(text);
  });

  it.each([
    ['a role chunk', chunk('{"role":"assistant","content":""}')],
    ['a finish reason', chunk('{"content":"x"}', ',"logprobs":null,"finish_reason":"stop"')],
    ['tool calls', chunk('{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}')],
    ['usage', chunk('{"content":"x"}', ',"logprobs":null,"finish_reason":null', ',"usage":{"prompt_tokens":1}')],
    ['logprobs', chunk('{"content":"x"}', ',"logprobs":{"content":[]},"finish_reason":null')],
    ['a second choice', `{${head},"choices":[{"index":1,"delta":{"content":"x"},"finish_reason":null}]}`],
    ['spaces', `{ ${head},"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}`],
    ['not JSON', '{"id":"x'],
  ])('null for %s (parsed whole instead)', (_name, data) => {
    expect(textOnlyChunk(data)).toBeNull();
  });

  it('is linear on hostile input', () => {
    const hostile = chunk(`{"content":"${'\\\\'.repeat(20_000)}`);
    const started = performance.now();
    expect(textOnlyChunk(hostile)).toBeNull();
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('pushText gives the same events as push', () => {
    const a = new AnthropicStream({ model: 'm', id: 'msg_1' });
    const b = new AnthropicStream({ model: 'm', id: 'msg_1' });
    const pieces = ['Hel', 'lo "w"', '\n中'];
    const viaPush = pieces.map((p) => a.push(JSON.parse(chunk(JSON.stringify({ content: p }))))).join('') + a.end(null);
    const viaText = pieces.map((p) => b.pushText(p)).join('') + b.end(null);
    expect(viaText).toBe(viaPush);
  });
});
