/**
 * The order in which one request tries the providers of its model. Deterministic: a function
 * of the candidates, their cooldowns, the time and the round-robin state it is handed (which it
 * advances). No I/O, no clock.
 *
 * - Providers that are not avoided (cooling down, or probed by another request) come first, by
 *   tier (lowest `priority` first). The first tier's head is the session's pinned provider when
 *   it is there (SPEC §9; the round-robin does not move), else chosen by smooth weighted
 *   round-robin (nginx's algorithm: weights 10 and 30 give exactly 1:3 over every 40 picks,
 *   evenly interleaved); the rest of each tier follows by weight, the order of the file breaking
 *   ties.
 * - Avoided providers come last, by priority and then by the soonest end of their cooldown:
 *   tried only when the others failed. (Providers that said when they can serve again are not
 *   handed here at all: `plan.ts`.)
 */
export interface Selectable {
  readonly id: string;
  readonly priority: number;
  readonly weight: number;
}

/** Smooth weighted round-robin current weights, by provider id. */
export type RoundRobinState = Map<string, number>;

export function orderProviders<P extends Selectable>(
  candidates: readonly P[],
  coolingUntil: (id: string) => number,
  rr: RoundRobinState,
  /** The id of the provider the request's session is pinned to. */
  pinned: string | null = null,
): P[] {
  const ready: P[] = [];
  const cooling: P[] = [];
  for (const p of candidates) (coolingUntil(p.id) > 0 ? cooling : ready).push(p);

  const order: P[] = [];
  const tiers = groupByPriority(ready);
  tiers.forEach((tier, i) => {
    const pin = i === 0 && pinned !== null ? tier.find((p) => p.id === pinned) : undefined;
    if (pin) order.push(pin, ...byWeight(tier.filter((p) => p !== pin)));
    else if (i === 0) order.push(...pickSmooth(tier, rr));
    else order.push(...byWeight(tier));
  });
  cooling.sort((a, b) => a.priority - b.priority || coolingUntil(a.id) - coolingUntil(b.id));
  order.push(...cooling);
  return order;
}

/** Advances the round-robin state of one tier and returns the tier with its pick first. */
function pickSmooth<P extends Selectable>(tier: readonly P[], rr: RoundRobinState): P[] {
  if (tier.length === 1) return [...tier];
  let total = 0;
  let best: P | undefined;
  let bestWeight = -Infinity;
  for (const p of tier) {
    const w = (rr.get(p.id) ?? 0) + p.weight;
    rr.set(p.id, w);
    total += p.weight;
    if (w > bestWeight) {
      best = p;
      bestWeight = w;
    }
  }
  if (!best) return [];
  rr.set(best.id, bestWeight - total);
  const picked = best;
  return [picked, ...byWeight(tier.filter((p) => p !== picked))];
}

function byWeight<P extends Selectable>(tier: readonly P[]): P[] {
  return [...tier].sort((a, b) => b.weight - a.weight);
}

function groupByPriority<P extends Selectable>(providers: readonly P[]): P[][] {
  const byPriority = new Map<number, P[]>();
  for (const p of providers) {
    const tier = byPriority.get(p.priority);
    if (tier) tier.push(p);
    else byPriority.set(p.priority, [p]);
  }
  return [...byPriority.entries()].sort((a, b) => a[0] - b[0]).map(([, tier]) => tier);
}
