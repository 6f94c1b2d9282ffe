import type { ProviderConfig } from '../config/load.js';
import type { Logger } from '../observability/logger.js';
import type { RequestTrace } from '../observability/request-log.js';
import type { Usage } from '../stream/convert.js';
import type { UsageRecord, UsageSink } from './sink.js';
import { costNanos, usd } from './cost.js';
import { estimateTokens, promptTokens } from './tokens.js';

/** What a provider generated, for an estimate: the start of the text, and how long the whole was. */
export interface Generated {
  text: string;
  chars: number;
}

/**
 * Hidden tokens a real answer may carry beyond its bytes: reasoning, images in the prompt.
 * A reported usage above (request bytes + answer bytes + this) cannot be true.
 */
const PLAUSIBLE_SLACK_TOKENS = 256 * 1024;

/**
 * The usage of one request: its prompt counted at most once (for `max_context_length` and for
 * estimates alike), and one record per provider that worked on it, handed to the usage sink
 * and the request's trace once the reply has been sent. A reported usage is checked before it
 * is stored: numbers that are not counts are replaced by the estimate, numbers larger than the
 * request and answer could hold are capped, with a warning naming the provider.
 */
export class RequestUsage {
  private prompt: Promise<number> | null = null;
  /** The last estimate made (the one a client was shown): the one recorded too. */
  private estimated: Usage | null = null;

  constructor(
    private readonly body: Readonly<Record<string, unknown>>,
    /** Size of the request body in bytes. */
    private readonly requestBytes: number,
    private readonly trace: RequestTrace,
    private readonly sink: UsageSink,
    private readonly logger: Logger,
    /** The virtual key of the request: its usage counts there too. */
    private readonly key: UsageRecord['key'] = null,
  ) {}

  async promptTokens(): Promise<number> {
    this.prompt ??= promptTokens(this.body);
    return this.prompt;
  }

  /** The gateway's estimate of a request's usage: the prompt, and what was generated. */
  async estimate(generated: Generated | null): Promise<Usage> {
    const prompt = await this.promptTokens();
    const completion = generated ? await estimateTokens(generated.text, generated.chars) : 0;
    this.estimated = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
    return this.estimated;
  }

  /**
   * Records the usage of one provider: as reported (checked), or estimated (never 0).
   * `answerBytes` is the size of what the provider sent, the bound of a plausible count.
   */
  async settle(provider: ProviderConfig, reported: Usage | null, generated: () => Generated | null, answerBytes: number, success: boolean): Promise<void> {
    let usage = reported && isCount(reported.prompt_tokens) && isCount(reported.completion_tokens) && isCount(reported.total_tokens) ? reported : null;
    const estimated = usage === null;
    if (usage === null) usage = this.estimated ?? await this.estimate(generated());
    else usage = this.plausible(provider, usage, answerBytes);
    const t = this.trace;
    t.tokens = usage.total_tokens;
    t.promptTokens = usage.prompt_tokens;
    t.completionTokens = usage.completion_tokens;
    t.tokensEstimated = estimated;
    const cached = Math.min(usage.prompt_tokens, usage.cached_tokens ?? 0);
    const cost = provider.price ? costNanos(provider.price, { prompt: usage.prompt_tokens, completion: usage.completion_tokens, cached }) : null;
    t.cost = cost === null ? null : usd(cost);
    this.sink.record({
      providerId: provider.id,
      model: provider.publicModel,
      provider: provider.name,
      success,
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
      totalTokens: usage.total_tokens,
      estimated,
      cachedTokens: cached,
      cost,
      key: this.key,
    });
  }

  private plausible(provider: ProviderConfig, u: Usage, answerBytes: number): Usage {
    const bound = this.requestBytes + answerBytes + PLAUSIBLE_SLACK_TOKENS;
    const prompt = Math.min(u.prompt_tokens, bound);
    const completion = Math.min(u.completion_tokens, bound);
    // The total is the sum (as OpenAI defines it), unless the upstream counts more in it, within the bound.
    const total = Math.min(Math.max(u.total_tokens, prompt + completion), 2 * bound);
    if (prompt !== u.prompt_tokens || completion !== u.completion_tokens || total !== u.total_tokens) {
      this.logger.warn(
        { provider: provider.id, reported: { prompt: u.prompt_tokens, completion: u.completion_tokens, total: u.total_tokens }, stored: { prompt, completion, total } },
        `Implausible usage from provider ${provider.name} of ${provider.publicModel}: capped to ${total} tokens`,
      );
    }
    const out: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total };
    if (u.cached_tokens) out.cached_tokens = Math.min(u.cached_tokens, prompt);
    return out;
  }
}

function isCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}
