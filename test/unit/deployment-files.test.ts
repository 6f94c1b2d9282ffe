import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ENV_DEFAULTS } from '../../src/config/env.js';

const ROOT = join(import.meta.dirname, '../..');
const read = (f: string): string => readFileSync(join(ROOT, f), 'utf8');

interface Service {
  build?: string;
  ports?: string[];
  volumes?: string[];
  environment?: string[];
  restart?: string;
  healthcheck?: { test: string[] };
  depends_on?: unknown;
}

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  const lines = text.split('\n');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));

  it('is multi-stage on Node 24, the runtime without build tools', () => {
    const froms = lines.filter((l) => l.startsWith('FROM '));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f).toMatch(/^FROM node:24[-\w.]*/);
    expect(runtime).not.toMatch(/\bg\+\+|\bmake\b|python3/);
    expect(text).toContain('npm prune --omit=dev');
  });

  it('runs the gateway itself as a non-root user, with a health check on /health', () => {
    expect(runtime).toMatch(/\nUSER (node|\d+)\n/);
    expect(runtime.indexOf('USER ')).toBeLessThan(runtime.indexOf('CMD '));
    expect(runtime).toContain('CMD ["node", "dist/src/main.js"]');
    expect(runtime).toMatch(/HEALTHCHECK[\s\S]*curl -fsS "http:\/\/127\.0\.0\.1:\$\{PORT\}\/health"/);
    expect(runtime).toContain('apt-get install -y --no-install-recommends curl');
    expect(runtime).toContain('EXPOSE 6010');
    // Only the gateway's own code: no demo double, no tests.
    expect(runtime).not.toContain('tools');
  });

  it('sets the environment the code reads, with the code’s defaults, and paths under /app', () => {
    const env = Object.fromEntries([...runtime.matchAll(/\b([A-Z_]+)=([^\s\\]+)/g)].map((m) => [m[1], m[2]]));
    for (const name of ['PORT', 'HOST', 'CONFIG_PATH', 'DATA_DIR', 'LOG_DIR', 'TZ'] as const) expect(env[name], name).toBe(ENV_DEFAULTS[name]);
    expect(runtime).toContain('WORKDIR /app');
    expect(runtime).toContain('chown node:node /app/data /app/logs');
  });

  it('.dockerignore keeps dependencies, builds, data and logs out of the context', () => {
    const ignored = read('.dockerignore').split('\n');
    for (const x of ['node_modules', 'dist', 'data', 'logs']) expect(ignored).toContain(x);
  });
});

describe('docker-compose.yml (as the first version had it)', () => {
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, Service> };
  const gw = compose.services.gateway!;

  it('publishes 6010 and mounts config read-only, data and logs where the image reads them', () => {
    expect(gw.ports).toEqual(['6010:6010']);
    expect(gw.volumes).toEqual(['./config:/app/config:ro', './data:/app/data', './logs:/app/logs']);
    expect(`/app/${ENV_DEFAULTS.CONFIG_PATH}`).toBe('/app/config/provider.json');
    expect(`/app/${ENV_DEFAULTS.DATA_DIR}`).toBe('/app/data');
    expect(`/app/${ENV_DEFAULTS.LOG_DIR}`).toBe('/app/logs');
  });

  it('passes TZ and LOG_LEVEL, restarts unless stopped, and checks /health with curl -f', () => {
    expect(gw.environment?.map((e) => e.split('=')[0])).toEqual(['TZ', 'LOG_LEVEL']);
    expect(gw.restart).toBe('unless-stopped');
    expect(gw.healthcheck?.test).toEqual(['CMD', 'curl', '-f', 'http://localhost:6010/health']);
  });
});

describe('docker-compose.redis.yml', () => {
  const compose = parse(read('docker-compose.redis.yml'), { merge: true }) as { services: Record<string, Service> };

  it('runs Redis and two gateway replicas that share it, on distinct host ports', () => {
    const names = Object.keys(compose.services);
    expect(names).toEqual(expect.arrayContaining(['redis', 'gateway-1', 'gateway-2']));
    const replicas = [compose.services['gateway-1']!, compose.services['gateway-2']!];
    for (const r of replicas) {
      expect(r.environment).toContain('REDIS_URL=redis://redis:6379/0');
      expect(r.volumes).toContain('./config:/app/config:ro');
      expect(r.healthcheck?.test).toEqual(['CMD', 'curl', '-f', 'http://localhost:6010/health']);
      expect(r.restart).toBe('unless-stopped');
    }
    const hostPorts = replicas.flatMap((r) => r.ports ?? []).map((p) => p.split(':')[0]);
    expect(new Set(hostPorts).size).toBe(2);
    for (const p of replicas.flatMap((r) => r.ports ?? [])) expect(p.endsWith(':6010')).toBe(true);
  });
});
