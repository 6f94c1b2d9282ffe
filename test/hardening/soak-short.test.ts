import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');

describe('faults under load (npm run soak, the short version)', () => {
  it('streams with leaving clients, resets, reloads every second and a killed provider: every check holds', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'gw-soak-')), 'SOAK.md');
    let code = 0;
    try {
      await promisify(execFile)(process.execPath, [join(ROOT, 'bench/soak.mjs'), '--quick', '--out', out], { cwd: ROOT, timeout: 120_000 });
    } catch (err) {
      code = (err as { code?: number }).code ?? 1;
    }
    const report = readFileSync(out, 'utf8');
    expect(report, report).toContain('| check | measured | passed |');
    expect(report, report).not.toContain('**no**');
    expect(code, report).toBe(0);
  }, 150_000);
});
