import { beforeAll, describe, expect, it } from 'vitest';
import { estimateTokens, loadTokenizer, promptTokens } from '../../src/usage/tokens.js';


beforeAll(() => loadTokenizer());

describe('estimateTokens', () => {
  it('is 0 for empty text', async () => {
    expect((await estimateTokens(''))).toBe(0);
  });

  it('is a small positive number for a short text', async () => {
    const n = (await estimateTokens('Hello world'));
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(4);
  });

  it('grows with the text', async () => {
    const one = (await estimateTokens('Hello world. '));
    const many = (await estimateTokens('Hello world. '.repeat(50)));
    expect(many).toBeGreaterThan(one * 25);
    expect((await estimateTokens('中文 text 🙂'))).toBeGreaterThan(0);
  });
});

describe('promptTokens', () => {
  const text = 'Explain the difference between TCP and UDP in two sentences.';

  it('counts chat messages at least as their text', async () => {
    const n = (await promptTokens({ messages: [{ role: 'user', content: text }] }));
    expect(n).toBeGreaterThan((await estimateTokens(text)));
  });

  it('counts array-of-parts content like the same text as a string', async () => {
    const asString = (await promptTokens({ messages: [{ role: 'user', content: text }] }));
    const asParts = (await promptTokens({ messages: [{ role: 'user', content: [{ type: 'text', text }] }] }));
    expect(asParts).toBe(asString);
    const twoParts = (await promptTokens({
      messages: [{ role: 'user', content: [{ type: 'text', text }, { type: 'image_url', image_url: { url: 'https://x/y.png' } }, { type: 'text', text }] }],
    }));
    expect(twoParts).toBeGreaterThanOrEqual(2 * (await estimateTokens(text)));
  });

  it('grows with more messages', async () => {
    const one = (await promptTokens({ messages: [{ role: 'user', content: text }] }));
    const two = (await promptTokens({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: text }] }));
    const three = (await promptTokens({
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: text }, { role: 'assistant', content: 'Sure.' }],
    }));
    expect(two).toBeGreaterThan(one);
    expect(three).toBeGreaterThan(two);
  });

  it('counts a prompt, string or array', async () => {
    expect((await promptTokens({ prompt: text }))).toBeGreaterThanOrEqual((await estimateTokens(text)));
    expect((await promptTokens({ prompt: [text, text] }))).toBeGreaterThanOrEqual(2 * (await estimateTokens(text)));
  });

  it('counts an embeddings input, string or array', async () => {
    expect((await promptTokens({ input: text }))).toBeGreaterThanOrEqual((await estimateTokens(text)));
    expect((await promptTokens({ input: [text, text, text] }))).toBeGreaterThanOrEqual(3 * (await estimateTokens(text)));
    expect((await promptTokens({ input: [text, text, text] }))).toBeGreaterThan((await promptTokens({ input: text })));
  });

  it('is never below 1', async () => {
    expect((await promptTokens({ messages: [] }))).toBeGreaterThanOrEqual(1);
    expect((await promptTokens({}))).toBe(1);
    expect((await promptTokens({ prompt: '' }))).toBe(1);
    expect((await promptTokens({ input: [] }))).toBe(1);
    expect((await promptTokens({ messages: 'not an array' }))).toBe(1);
  });

  // Completions and embeddings accept prompts already tokenized: each id is one token.
  it('counts a tokenized input (token ids) as at least its length', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => 1000 + i);
    expect((await promptTokens({ input: ids }))).toBeGreaterThanOrEqual(100);
    expect((await promptTokens({ prompt: [ids.slice(0, 50), ids.slice(50)] }))).toBeGreaterThanOrEqual(100);
  });
});

describe('estimates are bounded whatever the text', () => {
  // BPE is quadratic in the length of one pre-token: a run of one letter, or of CJK, is one.
  const shapes: Array<[string, string]> = [
    ['one letter', 'a'],
    ['two letters', 'ab'],
    ['CJK', '中'],
    ['emoji', '🙂'],
    ['spaces', ' '],
    ['punctuation', '!'],
    ['dotted', 'a.'],
  ];

  it.each(shapes)('1 MB of %s is counted in the worker within its deadline, the event loop free, and plausibly', async (_name, unit) => {
    const text = unit.repeat(Math.ceil(1_000_000 / unit.length));
    // The longest the event loop was held while counting.
    let last = performance.now();
    let longestGap = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 2);
    const started = performance.now();
    const n = await estimateTokens(text);
    const ms = performance.now() - started;
    clearInterval(ticker);
    expect(ms).toBeLessThan(500);
    expect(longestGap).toBeLessThan(50);
    expect(n).toBeGreaterThan(text.length / 200);
    expect(n).toBeLessThanOrEqual(text.length);
  });

  it('stays exact for ordinary text under the exact limit', async () => {
    const { countTokens } = await import('gpt-tokenizer');
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(200);
    expect((await estimateTokens(text))).toBe(countTokens(text));
  });

  it('scales a sample up to the length of the whole text', async () => {
    const sample = 'word '.repeat(1000);
    expect((await estimateTokens(sample, sample.length * 10))).toBe((await estimateTokens(sample)) * 10);
  });

  it('a prompt of many long messages costs no more than one long message', async () => {
    const body = { messages: Array.from({ length: 200 }, () => ({ role: 'user', content: 'z'.repeat(20_000) })) };
    const started = performance.now();
    const n = (await promptTokens(body));
    expect(performance.now() - started).toBeLessThan(100);
    expect(n).toBeGreaterThan(200 * 3);
  });
});
