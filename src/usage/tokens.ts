/**
 * Token estimates, for when a provider reports no usage and for `max_context_length`. The
 * tokenizer is OpenAI's o200k (gpt-4o family): exact for those models, close for others.
 * An estimate is never 0: a request that reached a provider cost something.
 */
export function estimateTokens(text: string): number {
  if (text.length === 0) return 0;
  if (!countTokens) throw new Error('the tokenizer is not loaded: await loadTokenizer() first');
  return countTokens(text);
}

let countTokens: ((text: string) => number) | null = null;
let loading: Promise<void> | null = null;

/**
 * Loads the tokenizer on first need: its tables take ~65 MB, which a gateway whose providers
 * all report usage (and that sets no `max_context_length`) never has to pay.
 */
export function loadTokenizer(): Promise<void> {
  loading ??= import('gpt-tokenizer').then((m) => {
    countTokens = m.countTokens;
  });
  return loading;
}

export function tokenizerLoaded(): boolean {
  return countTokens !== null;
}

/** The prompt of a request as text, for estimating: messages (with their overhead), prompt or input. */
export function promptTokens(body: Readonly<Record<string, unknown>>): number {
  let tokens = 0;
  if (Array.isArray(body.messages)) {
    // OpenAI's accounting: about 3 tokens of framing per message, 3 to prime the answer.
    tokens += 3;
    for (const m of body.messages) {
      tokens += 3;
      if (typeof m !== 'object' || m === null) continue;
      const msg = m as Record<string, unknown>;
      tokens += estimateTokens(contentText(msg.content));
      if (typeof msg.name === 'string') tokens += estimateTokens(msg.name) + 1;
      if (Array.isArray(msg.tool_calls)) tokens += estimateTokens(JSON.stringify(msg.tool_calls));
    }
    if (Array.isArray(body.tools)) tokens += estimateTokens(JSON.stringify(body.tools));
  }
  if (body.prompt !== undefined) tokens += inputTokens(body.prompt);
  if (body.input !== undefined) tokens += inputTokens(body.input);
  return Math.max(1, tokens);
}

/** `prompt` / `input`: text, a list of texts, token ids, or lists of token ids. */
function inputTokens(input: unknown): number {
  if (typeof input === 'number') return 1;
  if (Array.isArray(input)) return input.reduce((sum: number, part: unknown) => sum + inputTokens(part), 0);
  return estimateTokens(contentText(input));
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => {
        if (typeof part === 'string') return part;
        if (typeof part === 'object' && part !== null && typeof (part as { text?: unknown }).text === 'string') return (part as { text: string }).text;
        return '';
      })
      .join('\n');
  }
  return '';
}
