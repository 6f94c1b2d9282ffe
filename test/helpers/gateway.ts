import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { buildApp, type AppDeps, type GatewayState } from '../../src/app.js';
import { parseConfig, type GatewayConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';

export interface RunningGateway {
  url: string;
  state: GatewayState;
  /** Every log line written so far, parsed. */
  logs: Array<Record<string, unknown>>;
  /** The raw log text written so far. */
  logText(): string;
  close(): Promise<void>;
}

export function configFrom(raw: unknown, env: Record<string, string> = {}): GatewayConfig {
  const parsed = parseConfig(JSON.stringify(raw), { env, tz: 'UTC' });
  if (!parsed.ok) throw new Error(`test config invalid:\n${parsed.errors.join('\n')}`);
  return parsed.config;
}

/** The real gateway on a free loopback port, logging into memory, with near-instant backoff. */
export async function startGateway(raw: unknown, deps: Partial<Omit<AppDeps, 'config' | 'log'>> = {}): Promise<RunningGateway> {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', stdout: false, extra: { write: (s: string) => void lines.push(s) } });
  const { app, state } = buildApp({ config: configFrom(raw), log, backoffMs: () => 5, ...deps });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    get logs() {
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => lines.join(''),
    close: () => app.close(),
  };
}

/** The gateway built from a config file, as `main.ts` does: reloads reread that file. */
export async function startGatewayFromFile(path: string, deps: Partial<Omit<AppDeps, 'config' | 'log' | 'configPath'>> = {}): Promise<RunningGateway> {
  return startGateway(JSON.parse(readFileSync(path, 'utf8')), { configPath: path, ...deps });
}

/** A provider entry for a config, on the upstream double. */
export function provider(name: string, endpoint: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, endpoint, api_key: `sk-test-${name}-secret-key`, model: `upstream-${name}`, ...extra };
}
