/**
 * Where every finished request hands the usage it caused on a provider. The quota store takes
 * these; tests and the request log read them too.
 */
export interface UsageRecord {
  /** `model/name` of the provider. */
  providerId: string;
  model: string;
  provider: string;
  /** The provider answered the request successfully: it counts against the request quota. */
  success: boolean;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** No usage was reported by the provider: the tokens are the gateway's estimate. */
  estimated: boolean;
  /** Of `promptTokens`, those read from the provider's prompt cache. */
  cachedTokens: number;
  /** Nano-USD, or null when the provider's price is unknown. */
  cost: number | null;
  /** The virtual key that made the request (its usage counts there too), null for the master key. */
  key: { id: string; name: string; cron: string } | null;
}

export interface UsageSink {
  record(usage: UsageRecord): void;
}
