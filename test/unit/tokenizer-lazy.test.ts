import { describe, expect, it } from 'vitest';
import { estimateTokens, loadTokenizer, tokenizerLoaded } from '../../src/usage/tokens.js';

describe('the tokenizer', () => {
  it('is loaded only when first needed (its tables take ~65 MB)', async () => {
    expect(tokenizerLoaded()).toBe(false);
    expect(() => estimateTokens('hello')).toThrow(/not loaded/);
    await loadTokenizer();
    expect(tokenizerLoaded()).toBe(true);
    expect(estimateTokens('hello world')).toBeGreaterThan(0);
  });
});
