import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { call } from '../helpers/http.js';
import { readStream } from '../helpers/sse.js';

const ROOT = join(import.meta.dirname, '../..');

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('npm start with the shipped demo configuration', () => {
  it('starts the upstream double beside the gateway; the README examples answer; SIGTERM stops both', async () => {
    expect(await portOpen(6011)).toBe(false);
    const port = 16010 + Math.floor(Math.random() * 1000);
    const child = spawn(process.execPath, [join(ROOT, 'scripts/start.mjs')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', LOG_DIR: join(ROOT, 'logs', 'test-demo'), DATA_DIR: mkdtempSync(join(tmpdir(), 'gw-demo-')) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${port}`;
    try {
      const deadline = Date.now() + 15_000;
      while (!(await portOpen(port))) {
        if (Date.now() > deadline) throw new Error(`gateway did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(out).toContain('starting the upstream double');
      expect((await call(`${base}/health`)).status).toBe(200);
      const models = await call(`${base}/v1/models`);
      expect(models.json.data.map((m: { id: string }) => m.id)).toEqual(['gpt-4o-mini']);
      const answer = await call(`${base}/v1/chat/completions`, { body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello!' }] } });
      expect(answer.status).toBe(200);
      expect(answer.json.choices[0].message.content).toBe('Hello from primary');
      const stream = await readStream(`${base}/v1/chat/completions`, { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Hello!' }] });
      expect(stream.data.at(-1)).toBe('[DONE]');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(await portOpen(6011)).toBe(false);
    expect(await portOpen(port)).toBe(false);
  });
});
