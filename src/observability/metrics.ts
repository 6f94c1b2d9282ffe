import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GatewayConfig, ProviderConfig } from '../config/load.js';
import type { Attempt } from '../upstream/proxy.js';
import type { AffinityResult } from '../routing/affinity.js';

/** What one finished proxied request tells the metrics. */
export interface RequestOutcome {
  model: string;
  /** The route (`/v1/chat/completions`, `/v1/messages`…): a fixed set, never the client's path. */
  endpoint: string;
  provider: string | null;
  status: number;
  stream: boolean;
  attempts: readonly Attempt[];
  latencyMs: number;
  firstByteMs: number | null;
  tokens: { prompt: number; completion: number; estimated: boolean } | null;
  /** USD; null when unknown. */
  cost: number | null;
  /** The virtual key's name; null for the master key. */
  key: string | null;
  /** A stream that broke after content reached the client. */
  interrupted: boolean;
  /** How the session's pin went; null without a session. */
  affinity: AffinityResult | null;
}

/** Quota and cooldown state, read when Prometheus scrapes. */
export interface ProviderState {
  config(): GatewayConfig;
  coolingUntil(id: string): number;
  counters(providers: readonly ProviderConfig[]): Promise<Array<{ requests: number; tokens: number }>>;
  limits(p: ProviderConfig): { requests: number | null; tokens: number | null };
  /** Stored responses (count and bytes) in the usage store. */
  storedResponses(): Promise<{ count: number; bytes: number }>;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * The gateway's Prometheus metrics, in a registry of its own. Requests are observed once, when
 * they finish, from the trace they leave; quota and cooldown gauges are read at scrape time.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'endpoint' | 'model' | 'provider' | 'status' | 'stream'>;
  private readonly tries: Counter<'model' | 'provider' | 'result'>;
  private readonly failovers: Counter<'model' | 'from' | 'to'>;
  private readonly upstreamLatency: Histogram<'model' | 'provider'>;
  private readonly ttft: Histogram<'model' | 'provider'>;
  private readonly duration: Histogram<'model' | 'stream'>;
  private readonly tokens: Counter<'model' | 'provider' | 'kind' | 'estimated'>;
  private readonly cost: Counter<'model' | 'provider'>;
  private readonly keyRequests: Counter<'key' | 'status'>;
  private readonly keyTokens: Counter<'key' | 'kind'>;
  private readonly keyCost: Counter<'key'>;
  private readonly interrupted: Counter<'model' | 'provider'>;
  private readonly affinity: Counter<'model' | 'result'>;

  constructor(state: ProviderState) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({ name: 'gateway_requests_total', help: 'Proxied requests by endpoint, model, serving provider (empty when none), final status and mode', labelNames: ['endpoint', 'model', 'provider', 'status', 'stream'], registers });
    this.tries = new Counter({ name: 'gateway_upstream_tries_total', help: 'Tries sent to providers, by result (status code or error such as timeout)', labelNames: ['model', 'provider', 'result'], registers });
    this.failovers = new Counter({ name: 'gateway_failovers_total', help: 'Switches from one provider to the next within a request', labelNames: ['model', 'from', 'to'], registers });
    this.upstreamLatency = new Histogram({ name: 'gateway_upstream_latency_seconds', help: 'Duration of each try, until its answer (or the first event of a stream) was usable', labelNames: ['model', 'provider'], buckets: LATENCY_BUCKETS, registers });
    this.ttft = new Histogram({ name: 'gateway_time_to_first_token_seconds', help: 'Time from the request to the first streamed byte sent to the client (its first content: lifecycle frames wait for it)', labelNames: ['model', 'provider'], buckets: LATENCY_BUCKETS, registers });
    this.interrupted = new Counter({ name: 'gateway_streams_interrupted_total', help: 'Streams that broke after content reached the client (ended with the format\'s error event)', labelNames: ['model', 'provider'], registers });
    this.affinity = new Counter({ name: 'gateway_affinity_total', help: 'Requests with a session: sent to the pinned provider (hit), to another (miss: the pin yielded), or first of their session (new)', labelNames: ['model', 'result'], registers });
    this.duration = new Histogram({ name: 'gateway_request_duration_seconds', help: 'Whole request duration in the gateway', labelNames: ['model', 'stream'], buckets: LATENCY_BUCKETS, registers });
    this.tokens = new Counter({ name: 'gateway_tokens_total', help: 'Tokens used, by kind (prompt, completion) and whether they were estimated', labelNames: ['model', 'provider', 'kind', 'estimated'], registers });
    this.cost = new Counter({ name: 'gateway_cost_usd_total', help: 'Cost in USD of the requests whose provider price is known', labelNames: ['model', 'provider'], registers });
    this.keyRequests = new Counter({ name: 'gateway_key_requests_total', help: 'Proxied requests by virtual key (its name, never its secret) and final status', labelNames: ['key', 'status'], registers });
    this.keyTokens = new Counter({ name: 'gateway_key_tokens_total', help: 'Tokens used by virtual key, by kind (prompt, completion)', labelNames: ['key', 'kind'], registers });
    this.keyCost = new Counter({ name: 'gateway_key_cost_usd_total', help: 'Cost in USD by virtual key (requests whose price is known)', labelNames: ['key'], registers });

    const remaining = new Gauge({
      name: 'gateway_quota_remaining', help: 'What is left of a provider\'s quota in the current period (only limited quotas)', labelNames: ['model', 'provider', 'kind'], registers,
      async collect() {
        this.reset();
        const providers = [...state.config().providers.values()];
        const counters = await state.counters(providers).catch(() => null);
        if (!counters) return;
        providers.forEach((p, i) => {
          const c = counters[i];
          const l = state.limits(p);
          if (!c) return;
          if (l.requests !== null) this.set({ model: p.publicModel, provider: p.name, kind: 'requests' }, Math.max(0, l.requests - c.requests));
          if (l.tokens !== null) this.set({ model: p.publicModel, provider: p.name, kind: 'tokens' }, Math.max(0, l.tokens - c.tokens));
        });
      },
    });
    const stored = new Gauge({
      name: 'gateway_stored_responses', help: 'Stored responses (/v1/responses with store) kept in the usage store, and their bytes', labelNames: ['unit'], registers,
      async collect() {
        const s = await state.storedResponses().catch(() => null);
        this.reset();
        if (!s) return;
        this.set({ unit: 'responses' }, s.count);
        this.set({ unit: 'bytes' }, s.bytes);
      },
    });
    const cooling = new Gauge({
      name: 'gateway_provider_cooling_down', help: '1 while a provider is skipped after failures, else 0', labelNames: ['model', 'provider'], registers,
      collect() {
        this.reset();
        for (const m of state.config().models.values()) {
          for (const p of m.providers) this.set({ model: m.name, provider: p.name }, state.coolingUntil(p.id) > 0 ? 1 : 0);
        }
      },
    });
    void remaining;
    void cooling;
    void stored;
  }

  observe(o: RequestOutcome): void {
    this.requests.inc({ endpoint: o.endpoint, model: o.model, provider: o.provider ?? '', status: String(o.status), stream: String(o.stream) });
    this.duration.observe({ model: o.model, stream: String(o.stream) }, o.latencyMs / 1000);
    let previous: string | null = null;
    for (const a of o.attempts) {
      this.tries.inc({ model: o.model, provider: a.provider, result: a.result });
      this.upstreamLatency.observe({ model: o.model, provider: a.provider }, a.ms / 1000);
      if (previous !== null && previous !== a.provider) this.failovers.inc({ model: o.model, from: previous, to: a.provider });
      previous = a.provider;
    }
    if (o.provider && o.interrupted) this.interrupted.inc({ model: o.model, provider: o.provider });
    if (o.affinity !== null) this.affinity.inc({ model: o.model, result: o.affinity });
    if (o.provider && o.firstByteMs !== null) this.ttft.observe({ model: o.model, provider: o.provider }, o.firstByteMs / 1000);
    if (o.provider && o.tokens) {
      const estimated = String(o.tokens.estimated);
      this.tokens.inc({ model: o.model, provider: o.provider, kind: 'prompt', estimated }, o.tokens.prompt);
      this.tokens.inc({ model: o.model, provider: o.provider, kind: 'completion', estimated }, o.tokens.completion);
    }
    if (o.provider && o.cost !== null) this.cost.inc({ model: o.model, provider: o.provider }, o.cost);
    if (o.key !== null) {
      this.keyRequests.inc({ key: o.key, status: String(o.status) });
      if (o.tokens) {
        this.keyTokens.inc({ key: o.key, kind: 'prompt' }, o.tokens.prompt);
        this.keyTokens.inc({ key: o.key, kind: 'completion' }, o.tokens.completion);
      }
      if (o.cost !== null) this.keyCost.inc({ key: o.key }, o.cost);
    }
  }
}
