import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const run = promisify(execFile);

async function check(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('npm', ['run', '-s', 'check-config', '--', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function file(raw: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gw-check-')), 'provider.json');
  writeFileSync(path, typeof raw === 'string' ? raw : JSON.stringify(raw));
  return path;
}

describe('npm run check-config', () => {
  it('prints the routing table of a valid file: tiers, weights, limits, periods and next resets', async () => {
    const path = file({
      _global: { api_key: 'k-123456' },
      'gpt-4o': {
        providers: [
          { name: 'heavy', endpoint: 'https://a.example/v1', api_key: 'sk-a', model: 'gpt-4o', weight: 30, rate_limit: { requests_per_period: 100, period_cron: '0 */6 * * *' } },
          { name: 'light', endpoint: 'https://b.example/v1', api_key: 'sk-b', model: 'gpt-4o', weight: 10 },
          { name: 'spare', endpoint: 'https://c.example/v1', api_key: 'sk-c', model: 'gpt-4o', priority: 2, non_stream_support: false },
          { name: 'off', endpoint: 'https://d.example/v1', api_key: 'sk-d', model: 'gpt-4o', enabled: false },
        ],
      },
    });
    const r = await check([path], { TZ: 'Asia/Shanghai' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${path}: valid, 1 model(s), 4 provider(s); periods in Asia/Shanghai`);
    expect(r.stdout).toMatch(/priority 1\n\s+heavy: weight 30 \(75%\); requests 100, tokens unlimited per "0 \*\/6 \* \* \*"; period from \S+\+08:00, next reset \S+\+08:00/);
    expect(r.stdout).toMatch(/light: weight 10 \(25%\)/);
    expect(r.stdout).toMatch(/priority 2\n\s+spare: weight 10 \(100%\).*; stream, retry 3/);
    expect(r.stdout).toContain('disabled: off');
    expect(r.stdout).not.toContain('sk-a');
    expect(r.stdout).not.toContain('k-123456');
  });

  it('exits 1 with every error of an invalid file', async () => {
    const path = file({ m: { providers: [{ name: 'a', endpoint: 'ftp://x', api_key: 'k', model: 'x' }, { name: 'a', endpoint: 'http://y', api_key: 'k', model: 'x', rate_limit: { period_cron: '0 0 31 2 *' } }] } });
    const r = await check([path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('INVALID, 3 error(s)');
    expect(r.stderr).toContain('model "m", provider "a": endpoint: must be an http:// or https:// URL');
    expect(r.stderr).toContain('name: duplicate provider name');
    expect(r.stderr).toContain('rate_limit.period_cron: invalid cron expression "0 0 31 2 *"');
  });

  it('checks the shipped configuration by default', async () => {
    const r = await check([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('config/provider.json: valid');
  });
});
