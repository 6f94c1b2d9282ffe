import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');

describe('the benchmark harness (smoke run: direct and gateway, a second each)', () => {
  it('starts the double and the gateway, measures both, writes the table and stops what it started', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'gw-bench-')), 'RESULTS.md');
    await promisify(execFile)(process.execPath, [join(ROOT, 'bench/run.mjs'), '--smoke', '--out', out], { cwd: ROOT, timeout: 60_000 });
    const table = readFileSync(out, 'utf8');
    expect(table).toMatch(/^# Benchmark results/);
    for (const scenario of ['chat, 50 connections', 'chat, 1 connection']) {
      const section = table.split(`## ${scenario}\n`)[1]?.split('\n## ')[0] ?? '';
      const rows = Object.fromEntries(section.split('\n').filter((l) => l.startsWith('| direct') || l.startsWith('| gateway')).map((l) => {
        const cells = l.split('|').map((c) => c.trim());
        return [cells[1], { rps: Number(cells[2]), errors: Number(cells[5]) }];
      }));
      expect(rows.direct?.rps, scenario).toBeGreaterThan(0);
      expect(rows.gateway?.rps, scenario).toBeGreaterThan(0);
      expect(rows.gateway?.errors, scenario).toBe(0);
    }
  }, 90_000);
});
