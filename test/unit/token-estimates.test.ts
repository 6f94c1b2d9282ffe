import { beforeAll, describe, expect, it } from 'vitest';
import { estimateTokens, loadTokenizer, promptTokens } from '../../src/usage/tokens.js';


beforeAll(() => loadTokenizer());

describe('estimateTokens', () => {
  it('is 0 for empty text', () => {
    expect(estimateTokens('')).toBe(0);
  });

  it('is a small positive number for a short text', () => {
    const n = estimateTokens('Hello world');
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(4);
  });

  it('grows with the text', () => {
    const one = estimateTokens('Hello world. ');
    const many = estimateTokens('Hello world. '.repeat(50));
    expect(many).toBeGreaterThan(one * 25);
    expect(estimateTokens('中文 text 🙂')).toBeGreaterThan(0);
  });
});

describe('promptTokens', () => {
  const text = 'Explain the difference between TCP and UDP in two sentences.';

  it('counts chat messages at least as their text', () => {
    const n = promptTokens({ messages: [{ role: 'user', content: text }] });
    expect(n).toBeGreaterThan(estimateTokens(text));
  });

  it('counts array-of-parts content like the same text as a string', () => {
    const asString = promptTokens({ messages: [{ role: 'user', content: text }] });
    const asParts = promptTokens({ messages: [{ role: 'user', content: [{ type: 'text', text }] }] });
    expect(asParts).toBe(asString);
    const twoParts = promptTokens({
      messages: [{ role: 'user', content: [{ type: 'text', text }, { type: 'image_url', image_url: { url: 'https://x/y.png' } }, { type: 'text', text }] }],
    });
    expect(twoParts).toBeGreaterThanOrEqual(2 * estimateTokens(text));
  });

  it('grows with more messages', () => {
    const one = promptTokens({ messages: [{ role: 'user', content: text }] });
    const two = promptTokens({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: text }] });
    const three = promptTokens({
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: text }, { role: 'assistant', content: 'Sure.' }],
    });
    expect(two).toBeGreaterThan(one);
    expect(three).toBeGreaterThan(two);
  });

  it('counts a prompt, string or array', () => {
    expect(promptTokens({ prompt: text })).toBeGreaterThanOrEqual(estimateTokens(text));
    expect(promptTokens({ prompt: [text, text] })).toBeGreaterThanOrEqual(2 * estimateTokens(text));
  });

  it('counts an embeddings input, string or array', () => {
    expect(promptTokens({ input: text })).toBeGreaterThanOrEqual(estimateTokens(text));
    expect(promptTokens({ input: [text, text, text] })).toBeGreaterThanOrEqual(3 * estimateTokens(text));
    expect(promptTokens({ input: [text, text, text] })).toBeGreaterThan(promptTokens({ input: text }));
  });

  it('is never below 1', () => {
    expect(promptTokens({ messages: [] })).toBeGreaterThanOrEqual(1);
    expect(promptTokens({})).toBe(1);
    expect(promptTokens({ prompt: '' })).toBe(1);
    expect(promptTokens({ input: [] })).toBe(1);
    expect(promptTokens({ messages: 'not an array' })).toBe(1);
  });

  // Completions and embeddings accept prompts already tokenized: each id is one token.
  it('counts a tokenized input (token ids) as at least its length', () => {
    const ids = Array.from({ length: 100 }, (_, i) => 1000 + i);
    expect(promptTokens({ input: ids })).toBeGreaterThanOrEqual(100);
    expect(promptTokens({ prompt: [ids.slice(0, 50), ids.slice(50)] })).toBeGreaterThanOrEqual(100);
  });
});
