import { describe, expect, it } from 'vitest';
import { estimateTokens, loadTokenizer, tokenizerLoaded } from '../../src/usage/tokens.js';

describe('the tokenizer', () => {
  it('is loaded only when first needed (its tables take ~65 MB, in a thread of its own)', async () => {
    expect(tokenizerLoaded()).toBe(false);
    await loadTokenizer();
    expect(tokenizerLoaded()).toBe(true);
    expect(await estimateTokens('hello world')).toBeGreaterThan(0);
  });
});
