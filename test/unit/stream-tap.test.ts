import { describe, expect, it } from 'vitest';
import { SseDecoder, type SseEvent } from '../../src/stream/sse.js';
import { StreamTap } from '../../src/stream/tap.js';

function events(text: string): SseEvent[] {
  const d = new SseDecoder();
  return [...d.push(Buffer.from(text, 'utf8')), ...d.end()];
}

/** Runs every event of the text through the tap; returns the data (or the raw text) of what was forwarded. */
function run(tap: StreamTap, text: string): { forwarded: string[]; verdicts: boolean[] } {
  const verdicts: boolean[] = [];
  const forwarded: string[] = [];
  for (const e of events(text)) {
    const go = tap.forward(e);
    verdicts.push(go);
    if (go) forwarded.push(e.data ?? e.raw.toString());
  }
  return { forwarded, verdicts };
}

const head = '"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini"';
const content = (text: string, usage = ''): string =>
  `data: {${head},"choices":[{"index":0,"delta":{"content":${JSON.stringify(text)}},"logprobs":null,"finish_reason":null}]${usage}}\n\n`;
const usageOnly = `data: {${head},"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":2,"total_tokens":13}}\n\n`;
const stream =
  `data: {${head},"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}\n\n` +
  content('Hello', ',"usage":null') +
  content(' world', ',"usage":null') +
  `data: {${head},"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}\n\n` +
  usageOnly +
  'data: [DONE]\n\n';

describe('StreamTap', () => {
  it('drops the usage-only chunk it asked for, and records its usage', () => {
    const tap = new StreamTap('chat', true);
    const { verdicts, forwarded } = run(tap, stream);
    expect(verdicts).toEqual([true, true, true, true, false, true]);
    expect(forwarded.some((d) => d.includes('"total_tokens":13'))).toBe(false);
    expect(tap.usage).toEqual({ prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 });
    expect(tap.done).toBe(true);
  });

  it('forwards the usage-only chunk when the client asked for usage', () => {
    const tap = new StreamTap('chat', false);
    const { verdicts, forwarded } = run(tap, stream);
    expect(verdicts).toEqual([true, true, true, true, true, true]);
    expect(forwarded[4]).toContain('"total_tokens":13');
    expect(tap.usage).toEqual({ prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 });
  });

  it('reads usage written with spaces around the colon', () => {
    const tap = new StreamTap('chat', true);
    const { verdicts } = run(tap, 'data: {"choices": [], "usage" : {"prompt_tokens": 4, "completion_tokens": 5}}\n\n');
    expect(verdicts).toEqual([false]);
    expect(tap.usage).toEqual({ prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });
  });

  it('forwards chunks with "usage":null and records no usage', () => {
    const tap = new StreamTap('chat', true);
    const { verdicts } = run(tap, content('a', ',"usage":null') + `data: {${head},"choices":[],"usage":null}\n\n`);
    expect(verdicts).toEqual([true, true]);
    expect(tap.usage).toBeNull();
    expect(tap.done).toBe(false);
  });

  it('records and forwards usage on a chunk that also has choices', () => {
    const tap = new StreamTap('chat', true);
    const { verdicts } = run(tap, content('last', ',"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8}'));
    expect(verdicts).toEqual([true]);
    expect(tap.usage).toEqual({ prompt_tokens: 7, completion_tokens: 1, total_tokens: 8 });
  });

  it('sets done on [DONE], and only then', () => {
    const tap = new StreamTap('chat', false);
    expect(tap.forward(events(content('x'))[0]!)).toBe(true);
    expect(tap.done).toBe(false);
    expect(tap.forward(events('data: [DONE]\n\n')[0]!)).toBe(true);
    expect(tap.done).toBe(true);
  });

  it('forwards comment and blank-line events', () => {
    const tap = new StreamTap('chat', true);
    const { verdicts, forwarded } = run(tap, ': OPENROUTER PROCESSING\n\n\n' + content('x'));
    expect(verdicts).toEqual([true, true, true]);
    expect(forwarded.slice(0, 2)).toEqual([': OPENROUTER PROCESSING\n\n', '\n']);
    expect(tap.usage).toBeNull();
  });

  it('forwards data that is not JSON, even when it looks like usage', () => {
    const tap = new StreamTap('chat', true);
    const { verdicts } = run(tap, 'data: not json\n\ndata: {"choices":[],"usage":{broken\n\n');
    expect(verdicts).toEqual([true, true]);
    expect(tap.usage).toBeNull();
    expect(tap.generatedText()).toBe('');
  });

  it('gives the generated content when no usage came', () => {
    const tap = new StreamTap('chat', true);
    run(tap, stream.replace(usageOnly, ''));
    expect(tap.usage).toBeNull();
    expect(tap.generatedText()).toBe('Hello world');
  });

  it('gives the generated text of a text completion stream', () => {
    const tap = new StreamTap('text', true);
    const chunk = (t: string): string => `data: {"id":"cmpl-1","object":"text_completion","choices":[{"index":0,"text":${JSON.stringify(t)},"finish_reason":null}]}\n\n`;
    run(tap, chunk('Once') + ': ping\n\n' + 'data: garbage\n\n' + chunk(' upon 中文') + 'data: [DONE]\n\n');
    expect(tap.generatedText()).toBe('Once upon 中文');
  });
});

describe('StreamTap memory', () => {
  it('holds a bounded amount of a long stream without usage, and still estimates all of it', () => {
    const tap = new StreamTap('chat', true);
    const piece = 'y'.repeat(8 * 1024);
    // 100 MiB of content chunks, each its own buffer.
    for (let i = 0; i < 12_800; i++) {
      for (const e of events(content(piece, ',"usage":null'))) tap.forward(e);
    }
    expect(tap.retainedBytes()).toBeLessThan(200 * 1024);
    expect(tap.generatedChars()).toBe(12_800 * piece.length);
    expect(tap.generatedText().length).toBeLessThanOrEqual(16 * 1024);
  });

  it('holds nothing once usage was reported', () => {
    const tap = new StreamTap('chat', true);
    run(tap, content('a', ',"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}'));
    for (let i = 0; i < 100; i++) run(tap, content('more text'));
    expect(tap.retainedBytes()).toBe(0);
  });

  it('notes a finish reason, and only a string one', () => {
    const tap = new StreamTap('chat', true);
    run(tap, content('x', ',"usage":null'));
    expect(tap.finished).toBe(false);
    run(tap, `data: {${head},"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n`);
    expect(tap.finished).toBe(true);
  });
});
