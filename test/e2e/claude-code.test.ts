import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call } from '../helpers/http.js';

/**
 * Claude Code (`@anthropic-ai/claude-code`, the binary its npm package ships), headless as
 * people script it, pointed at the gateway with ANTHROPIC_BASE_URL; the gateway routes it to
 * an OpenAI-format provider (the upstream double). No network: only 127.0.0.1.
 */
const CLAUDE = join(import.meta.dirname, '../../node_modules/.bin/claude');
const fx = useUpstreamDouble();
const KEY = 'sk-gw-claude-code-test-key';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function claude(gw: RunningGateway, prompt: string, env: Record<string, string>): Promise<Run> {
  const home = mkdtempSync(join(tmpdir(), 'cc-home-'));
  const cwd = mkdtempSync(join(tmpdir(), 'cc-work-'));
  const child = spawn(CLAUDE, ['-p', prompt, '--output-format', 'json', '--permission-mode', 'bypassPermissions'], {
    cwd,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: home,
      // bypassPermissions as root needs this (the CI machine runs as root).
      IS_SANDBOX: '1',
      ANTHROPIC_BASE_URL: gw.url,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CODE_MAX_RETRIES: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  return new Promise((resolve) => child.on('exit', (code) => {
    clearTimeout(timer);
    resolve({ code, stdout, stderr });
  }));
}

const start = () =>
  fx.gateway({
    _global: { api_key: KEY, default_retry: 0 },
    // Claude Code asks for its own default model names: an alias catches them all.
    'claude-via-gateway': { aliases: ['claude-*'], providers: [provider('p', fx.double.url('p'))] },
  });

describe.skipIf(!existsSync(CLAUDE))('Claude Code through the gateway', () => {
  it('claude -p runs a turn that calls Bash and then answers (ANTHROPIC_AUTH_TOKEN, its default model name)', async () => {
    const gw = await start();
    fx.double.script('p',
      { toolCall: { name: 'Bash', arguments: '{"command":"echo probe-ok","description":"Print a probe"}', id: 'call_bash_1' } },
      { content: 'FINAL: probe done' });
    const run = await claude(gw, 'Run `echo probe-ok` with the Bash tool, then say done.', { ANTHROPIC_AUTH_TOKEN: KEY });
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { result: string; is_error: boolean };
    expect(out.is_error).toBe(false);
    expect(out.result).toContain('FINAL: probe done');

    const got = fx.double.received('p');
    expect(got).toHaveLength(2);
    // Streamed, and translated: the Anthropic-only fields never reach the OpenAI-format upstream.
    const first = got[0]!.body as Record<string, unknown>;
    expect(first.stream).toBe(true);
    for (const field of ['system', 'thinking', 'context_management', 'output_config', 'metadata']) expect(first).not.toHaveProperty(field);
    expect(JSON.stringify(first)).not.toContain('cache_control');
    expect((first.tools as unknown[]).length).toBeGreaterThan(5);
    // The tool really ran: its output came back as a tool message.
    const second = got[1]!.body as { messages: Array<{ role: string; tool_call_id?: string; content?: unknown }> };
    const result = second.messages.find((m) => m.role === 'tool');
    expect(result?.tool_call_id).toBe('call_bash_1');
    expect(JSON.stringify(result?.content)).toContain('probe-ok');

    const lines = gw.logs.filter((l) => String(l.path).startsWith('/v1/messages'));
    expect(lines.map((l) => l.status)).toEqual([200, 200]);
    const stats = (await call(`${gw.url}/admin/stats`, { headers: { authorization: `Bearer ${KEY}` } })).json;
    expect(stats['claude-via-gateway'].p.requests).toBe(2);
  });

  it('works with ANTHROPIC_API_KEY (x-api-key) and a model named by ANTHROPIC_MODEL', async () => {
    const gw = await start();
    fx.double.script('p', { content: 'FINAL: hello' });
    const run = await claude(gw, 'Say hello.', { ANTHROPIC_API_KEY: KEY, ANTHROPIC_MODEL: 'claude-via-gateway', ANTHROPIC_SMALL_FAST_MODEL: 'claude-via-gateway' });
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as { result: string }).result).toContain('FINAL: hello');
    expect(fx.double.received('p').length).toBeGreaterThanOrEqual(1);
    expect(fx.double.received('p')[0]!.headers.authorization).toBe('Bearer sk-test-p-secret-key');
  });
});

// In CI a missing binary is an error, never a silent skip.
if (process.env.CI && !existsSync(CLAUDE)) throw new Error(`Claude Code is not installed at ${CLAUDE} (npm ci installs it)`);
