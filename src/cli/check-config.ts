import { loadConfigFile, type GatewayConfig, type ProviderConfig } from '../config/load.js';
import { isoWithOffset, periodAt } from '../usage/period.js';
import { DEFAULT_PERIOD_CRON } from '../config/cron.js';
import { envOr } from '../config/env.js';

/**
 * `npm run check-config [path]`: validates a configuration with the gateway's own validation and
 * prints the routing it gives: models, tiers, weights, limits, periods and next resets.
 * Exit 0 when valid, 1 with every error otherwise.
 */
async function main(): Promise<void> {
  const path = process.argv[2] || envOr(process.env, 'CONFIG_PATH');
  const tz = envOr(process.env, 'TZ');
  const loaded = await loadConfigFile(path, { env: process.env, tz });
  if (!loaded.ok) {
    process.stderr.write(`${path}: INVALID, ${loaded.errors.length} error(s):\n${loaded.errors.map((e) => `  - ${e}`).join('\n')}\n`);
    process.exit(1);
  }
  process.stdout.write(describe(path, loaded.config, tz, Date.now()));
}

export function describe(path: string, config: GatewayConfig, tz: string, now: number): string {
  const providers = [...config.providers.values()];
  const g = config.global;
  const lines = [
    `${path}: valid, ${config.models.size} model(s), ${providers.length} provider(s); periods in ${tz}`,
    `gateway key: ${g.api_key ? 'set' : 'none (open)'}; admin key: ${g.admin_key ? 'set' : g.api_key ? 'the gateway key' : 'none (open)'}; ` +
      `request log: ${g.log_requests ? 'on' : 'off'}; body limit ${g.max_body_bytes} bytes`,
  ];
  for (const model of config.models.values()) {
    lines.push('', `${model.name}`);
    const enabled = model.providers.filter((p) => p.enabled);
    if (enabled.length === 0) lines.push('  (no enabled provider: requests get 503)');
    const tiers = [...new Set(enabled.map((p) => p.priority))].sort((a, b) => a - b);
    for (const priority of tiers) {
      const tier = enabled.filter((p) => p.priority === priority);
      const total = tier.reduce((sum, p) => sum + p.weight, 0);
      lines.push(`  priority ${priority}`);
      for (const p of tier) lines.push(`    ${row(p, total, tz, now)}`);
    }
    const disabled = model.providers.filter((p) => !p.enabled).map((p) => p.name);
    if (disabled.length > 0) lines.push(`  disabled: ${disabled.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

function row(p: ProviderConfig, tierWeight: number, tz: string, now: number): string {
  const share = Math.round((p.weight / tierWeight) * 1000) / 10;
  const cron = p.rate_limit?.period_cron ?? DEFAULT_PERIOD_CRON;
  const period = periodAt(cron, tz, now);
  const limit = (n: number | null | undefined): string => (n === null || n === undefined ? 'unlimited' : String(n));
  const modes = [p.stream_support ? 'stream' : null, p.non_stream_support ? 'json' : null].filter(Boolean).join('+');
  return [
    `${p.name}: weight ${p.weight} (${share}%)`,
    `requests ${limit(p.rate_limit?.requests_per_period)}, tokens ${limit(p.rate_limit?.tokens_per_period)} per "${cron}"`,
    `period from ${isoWithOffset(period.start, tz)}, next reset ${isoWithOffset(period.end, tz)}`,
    `${modes}, retry ${p.retry}, timeout ${p.timeout}s, cooldown ${p.cooldown_seconds}s` +
      (p.max_context_length ? `, context ≤ ${p.max_context_length} tokens` : ''),
    `model ${p.model} at ${p.endpoint}`,
  ].join('; ');
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) await main();
