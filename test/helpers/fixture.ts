import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { AppDeps } from '../../src/app.js';
import { createUpstreamDouble, type UpstreamDouble } from '../../tools/upstream-double.js';
import { startGateway, startGatewayFromFile, type RunningGateway } from './gateway.js';

type Deps = Partial<Omit<AppDeps, 'config' | 'log'>>;

export interface UpstreamFixture {
  /** The file's upstream double: started once, its scripts and records reset before each test. */
  readonly double: UpstreamDouble;
  /** A gateway for this test, closed after it. */
  gateway(raw: unknown, deps?: Deps): Promise<RunningGateway>;
  /** A gateway built from a config file (reloads reread it), closed after the test. */
  gatewayFromFile(path: string, deps?: Omit<Deps, 'configPath'>): Promise<RunningGateway>;
}

/** Registers the hooks every integration test file needs around the double and its gateways. */
export function useUpstreamDouble(): UpstreamFixture {
  let double: UpstreamDouble | undefined;
  const open: RunningGateway[] = [];
  beforeAll(async () => {
    double = await createUpstreamDouble();
  });
  afterAll(() => double?.close());
  beforeEach(() => double?.reset());
  afterEach(async () => {
    await Promise.all(open.splice(0).map((g) => g.close()));
  });
  const keep = (g: RunningGateway): RunningGateway => (open.push(g), g);
  return {
    get double(): UpstreamDouble {
      if (!double) throw new Error('the upstream double is only there inside tests');
      return double;
    },
    gateway: async (raw, deps = {}) => keep(await startGateway(raw, deps)),
    gatewayFromFile: async (path, deps = {}) => keep(await startGatewayFromFile(path, deps)),
  };
}
