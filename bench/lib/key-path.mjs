// What a virtual key adds to a request, measured on its own code in one process (no network, no
// load generator sharing the cores): checking the key, holding and counting a request of its quota,
// recording its tokens and cost, its metrics. The end-to-end scenario measures the same thing
// through the whole gateway, where the spread between runs on a busy 2-core machine is larger
// than the effect.
import { Keys } from '../../dist/src/keys/keys.js';
import { Metrics } from '../../dist/src/observability/metrics.js';
import { admitKey, keyUsage } from '../../dist/src/server/key-admission.js';
import { Quota } from '../../dist/src/usage/quota.js';
import { SqliteStore } from '../../dist/src/usage/sqlite-store.js';

const silent = { info() {}, warn() {}, error() {}, debug() {} };

/** Microseconds per request: [with a virtual key, with the master key] of the code that differs. */
export async function keyPathMicros(n = 200_000) {
  const store = new SqliteStore(':memory:');
  const quota = new Quota(store, 'UTC', Date.now, silent);
  const keys = new Keys(store.keys, Date.now, silent);
  await keys.start(false);
  const { secret } = await keys.create({
    name: 'bench', models: null, max_concurrent: null, expires_at: null, metadata: null,
    rate_limit: { requests_per_period: 1e9, tokens_per_period: null, cost_per_period: 1e6, period_cron: '0 0 * * *' },
  });
  const metrics = new Metrics({ config: () => ({ providers: new Map(), models: new Map() }), coolingUntil: () => 0, counters: async () => [], limits: () => ({}), storedResponses: async () => ({ count: 0, bytes: 0 }) });
  const reply = { raw: { closed: false, once() {} } };
  const order = [{ retry: 0, timeout: 120 }];
  const usage = (key) => ({ providerId: 'bench/double', model: 'bench', provider: 'double', success: true, promptTokens: 10, completionTokens: 20, totalTokens: 30, estimated: false, cachedTokens: 0, cost: 15, key });
  const outcome = (key) => ({ model: 'bench', endpoint: '/v1/chat/completions', provider: 'double', status: 200, stream: false, attempts: [], latencyMs: 1, firstByteMs: null, tokens: { prompt: 10, completion: 20, estimated: false }, cost: 0.000015, key });
  const withKey = async () => {
    const r = keys.authenticate(secret);
    const a = await admitKey(r.key, order, reply, quota, Date.now());
    a.served();
    quota.record(usage(keyUsage(r.key)));
    metrics.observe(outcome(r.key.name));
  };
  const withoutKey = async () => {
    quota.record(usage(null));
    metrics.observe(outcome(null));
  };
  const time = async (fn) => {
    const t = performance.now();
    for (let i = 0; i < n; i++) await fn();
    return ((performance.now() - t) / n) * 1000;
  };
  await time(withKey);
  await time(withoutKey);
  const [a, b] = [await time(withKey), await time(withoutKey)];
  await store.close();
  return { withKey: a, withoutKey: b, added: a - b };
}
