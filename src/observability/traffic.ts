import { providerId } from '../config/load.js';
import type { Attempt } from '../upstream/proxy.js';

/** One finished proxied request, as the dashboard lists it. */
export interface RecentRequest {
  id: string;
  at: number;
  model: string;
  stream: boolean;
  status: number;
  provider: string | null;
  tries: readonly Attempt[];
  latencyMs: number;
  tokens: number | null;
  tokensEstimated: boolean;
  /** A stream that broke after content reached the client. */
  interrupted: boolean;
}

export interface ProviderTraffic {
  /** Per minute, oldest first: requests (tries), errors, latency percentiles in ms. */
  minutes: Array<{ at: number; requests: number; errors: number; p50: number | null; p95: number | null }>;
}

interface Bucket {
  minute: number;
  requests: number;
  errors: number;
  /** Try latencies of the minute, at most SAMPLE_CAP (a uniform sample beyond that). */
  latencies: number[];
  seen: number;
}

const MINUTES = 15;
const SAMPLE_CAP = 512;
const RECENT = 50;

/**
 * The last minutes of traffic per provider and the latest requests, in memory, for the
 * dashboard: what Prometheus would show, for an operator who has no Prometheus.
 */
export class Traffic {
  private readonly buckets = new Map<string, Bucket[]>();
  private readonly recent: RecentRequest[] = [];
  /** Interrupted streams per provider id since start. */
  private readonly interruptedBy = new Map<string, number>();

  constructor(private readonly now: () => number) {}

  record(model: string, r: RecentRequest): void {
    this.recent.push(r);
    if (this.recent.length > RECENT) this.recent.shift();
    const minute = Math.floor(this.now() / 60_000);
    if (r.interrupted && r.provider !== null) {
      const id = providerId(model, r.provider);
      this.interruptedBy.set(id, (this.interruptedBy.get(id) ?? 0) + 1);
    }
    for (const a of r.tries) {
      const b = this.bucket(providerId(model, a.provider), minute);
      b.requests += 1;
      if (!/^2\d\d$/.test(a.result)) b.errors += 1;
      b.seen += 1;
      // Reservoir sampling keeps the percentiles honest past the cap without growing.
      if (b.latencies.length < SAMPLE_CAP) b.latencies.push(a.ms);
      else {
        const i = Math.floor(Math.random() * b.seen);
        if (i < SAMPLE_CAP) b.latencies[i] = a.ms;
      }
    }
  }

  /** The last MINUTES minutes of one provider (by its id), one entry per minute, empty ones included. */
  of(providerId: string): ProviderTraffic {
    const current = Math.floor(this.now() / 60_000);
    const byMinute = new Map((this.buckets.get(providerId) ?? []).map((b) => [b.minute, b]));
    const minutes = [];
    for (let m = current - MINUTES + 1; m <= current; m++) {
      const b = byMinute.get(m);
      const sorted = b ? [...b.latencies].sort((x, y) => x - y) : [];
      const pct = (p: number): number | null => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
      minutes.push({ at: m * 60_000, requests: b?.requests ?? 0, errors: b?.errors ?? 0, p50: pct(0.5), p95: pct(0.95) });
    }
    return { minutes };
  }

  /** Streams of this provider (by id) that broke after content reached the client, since start. */
  interrupted(providerId: string): number {
    return this.interruptedBy.get(providerId) ?? 0;
  }

  latest(): RecentRequest[] {
    return [...this.recent].reverse();
  }

  private bucket(id: string, minute: number): Bucket {
    let list = this.buckets.get(id);
    if (!list) {
      list = [];
      this.buckets.set(id, list);
    }
    let b = list[list.length - 1];
    if (!b || b.minute !== minute) {
      b = { minute, requests: 0, errors: 0, latencies: [], seen: 0 };
      list.push(b);
      while (list.length > 0 && list[0]!.minute <= minute - MINUTES) list.shift();
    }
    return b;
  }
}
