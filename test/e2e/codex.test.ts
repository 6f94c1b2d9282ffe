import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call } from '../helpers/http.js';

/**
 * Codex CLI (`@openai/codex`, the Rust binary its npm package ships in the optional
 * `@openai/codex-linux-x64` package), headless as people script it (`codex exec --json`), with a
 * custom `wire_api = "responses"` provider pointed at the gateway's `/v1/responses`; the gateway
 * routes it to an OpenAI-format chat provider (the upstream double). No network: only 127.0.0.1.
 */
const CODEX = join(import.meta.dirname, '../../node_modules/.bin/codex');
const fx = useUpstreamDouble();
const KEY = 'sk-gw-codex-test-key';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The `--json` event lines. */
  events: Array<Record<string, any>>;
  /** The working directory Codex ran in. */
  cwd: string;
}

interface ChatTool {
  type: string;
  function?: { name: string; parameters?: unknown };
}
interface ChatMessage {
  role: string;
  content?: unknown;
  tool_call_id?: string;
  tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>;
}
interface ChatBody {
  model: string;
  stream?: boolean;
  messages: ChatMessage[];
  tools: ChatTool[];
}

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const tempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};

function codex(gw: RunningGateway, model: string, prompt: string): Promise<Run> {
  const home = tempDir('codex-home-');
  const cwd = tempDir('codex-work-');
  // A throwaway CODEX_HOME: nothing from the machine's own ~/.codex, no update check, no
  // analytics, no plugin sync (it looks up github.com), and no retries so a failure shows at once.
  // web_search and the rest stay at Codex's defaults: the gateway must cope with what it sends.
  writeFileSync(join(home, 'config.toml'), [
    `model = "${model}"`,
    'model_provider = "gateway"',
    'approval_policy = "never"',
    'sandbox_mode = "danger-full-access"',
    'check_for_update_on_startup = false',
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[features]',
    'plugins = false',
    '',
    '[model_providers.gateway]',
    'name = "AI API Gateway"',
    `base_url = "${gw.url}/v1"`,
    'env_key = "GATEWAY_KEY"',
    'wire_api = "responses"',
    'request_max_retries = 0',
    'stream_max_retries = 0',
    '',
  ].join('\n'));
  const child = spawn(CODEX, ['exec', '--skip-git-repo-check', '--json', prompt], {
    cwd,
    // Only what Codex needs: no proxy variables, no OPENAI_API_KEY from the machine.
    env: { PATH: process.env.PATH ?? '', HOME: home, CODEX_HOME: home, GATEWAY_KEY: KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  // Codex waits on an answer that never starts for longer than this: kill it.
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  return new Promise((resolve) => child.on('exit', (code) => {
    clearTimeout(timer);
    const events = stdout.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);
    resolve({ code, stdout, stderr, events, cwd });
  }));
}

const itemsOf = (run: Run, type: string): Array<Record<string, any>> =>
  run.events.filter((e) => e.type === 'item.completed' && e.item?.type === type).map((e) => e.item as Record<string, any>);

const start = () =>
  fx.gateway({
    _global: { api_key: KEY, default_retry: 0 },
    // gpt-5.5 is a model Codex knows (it then offers apply_patch); any other name gets fallback metadata.
    'gw-coder': { aliases: ['gpt-5.5'], providers: [provider('p', fx.double.url('p'))] },
  });

/** What every translated Codex request must look like on the chat side. */
function expectChatOnly(body: ChatBody): void {
  expect(body.model).toBe('upstream-p');
  expect(body.stream).toBe(true);
  // Responses-only and Codex-only fields never reach a chat provider.
  for (const field of ['client_metadata', 'store', 'include', 'input', 'instructions', 'reasoning', 'text', 'previous_response_id']) {
    expect(body, field).not.toHaveProperty(field);
  }
  expect(body.tools.length).toBeGreaterThan(3);
  for (const t of body.tools) {
    // Hosted tools (web_search), tool_search and namespaces are dropped or flattened into functions.
    expect(t.type).toBe('function');
    expect(t.function?.name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
  }
  const names = body.tools.map((t) => t.function?.name);
  expect(names).toContain('exec_command');
  expect(names).not.toContain('web_search');
  expect(names).not.toContain('tool_search');
  expect(JSON.stringify(body.tools)).not.toContain('"web_search"');
}

async function responseLogs(gw: RunningGateway, n: number): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + 2000;
  const lines = () => gw.logs.filter((l) => String(l.path).startsWith('/v1/responses'));
  while (Date.now() < deadline && lines().length < n) await new Promise((r) => setTimeout(r, 10));
  return lines();
}

describe.skipIf(!existsSync(CODEX))('Codex CLI through the gateway', () => {
  it('codex exec runs a turn that calls exec_command and then answers', { timeout: 120_000 }, async () => {
    const gw = await start();
    fx.double.script('p',
      { toolCall: { name: 'exec_command', arguments: '{"cmd":"echo probe-ok"}', id: 'call_exec_1' } },
      { content: 'FINAL: probe done' });
    const run = await codex(gw, 'gw-coder', 'Run `echo probe-ok` in the shell, then say done.');
    expect(run.code, run.stderr + run.stdout).toBe(0);

    // Codex ran the command and printed the final answer.
    const commands = itemsOf(run, 'command_execution');
    expect(commands).toHaveLength(1);
    expect(commands[0]!.exit_code).toBe(0);
    expect(commands[0]!.aggregated_output).toContain('probe-ok');
    expect(itemsOf(run, 'agent_message').map((i) => i.text)).toContain('FINAL: probe done');
    const done = run.events.find((e) => e.type === 'turn.completed');
    expect(done?.usage?.input_tokens).toBeGreaterThan(0);

    const got = fx.double.received('p');
    expect(got).toHaveLength(2);
    expect(got.map((r) => r.path)).toEqual(['/p/v1/chat/completions', '/p/v1/chat/completions']);
    const first = got[0]!.body as ChatBody;
    expectChatOnly(first);
    // The prompt reached the upstream as the last user message.
    expect(JSON.stringify(first.messages.at(-1))).toContain('echo probe-ok');
    expect(first.messages.at(-1)?.role).toBe('user');

    // The second request carries the call as the model made it, and the command's output.
    const second = got[1]!.body as ChatBody;
    expectChatOnly(second);
    const asked = second.messages.find((m) => m.role === 'assistant' && m.tool_calls?.length);
    expect(asked?.tool_calls?.[0]).toMatchObject({ id: 'call_exec_1', type: 'function', function: { name: 'exec_command' } });
    expect(JSON.parse(asked!.tool_calls![0]!.function.arguments)).toEqual({ cmd: 'echo probe-ok' });
    const result = second.messages.find((m) => m.role === 'tool');
    expect(result?.tool_call_id).toBe('call_exec_1');
    expect(JSON.stringify(result?.content)).toContain('probe-ok');

    expect((await responseLogs(gw, 2)).map((l) => l.status)).toEqual([200, 200]);
    const stats = (await call(`${gw.url}/admin/stats`, { headers: { authorization: `Bearer ${KEY}` } })).json;
    expect(stats['gw-coder'].p.requests).toBe(2);
  });

  it('codex exec edits a file with apply_patch (a custom tool, offered to the chat provider as a function)', { timeout: 120_000 }, async () => {
    const gw = await start();
    const patch = '*** Begin Patch\n*** Add File: hello.txt\n+hello from codex\n*** End Patch\n';
    fx.double.script('p',
      { toolCall: { name: 'apply_patch', arguments: JSON.stringify({ input: patch }), id: 'call_patch_1' } },
      { content: 'FINAL: file written' });
    const run = await codex(gw, 'gpt-5.5', 'Create hello.txt containing "hello from codex".');
    expect(run.code, run.stderr + run.stdout).toBe(0);

    // Codex applied the patch: the upstream's function call came back to it as a custom_tool_call.
    expect(existsSync(join(run.cwd, 'hello.txt')), run.stdout).toBe(true);
    expect(readFileSync(join(run.cwd, 'hello.txt'), 'utf8')).toBe('hello from codex\n');
    const changes = itemsOf(run, 'file_change');
    expect(changes).toHaveLength(1);
    expect(changes[0]!.status).toBe('completed');
    expect(itemsOf(run, 'agent_message').map((i) => i.text)).toContain('FINAL: file written');

    const got = fx.double.received('p');
    expect(got).toHaveLength(2);
    const first = got[0]!.body as ChatBody;
    expectChatOnly(first);
    // apply_patch (freeform in Responses) is a function with one string parameter, `input`.
    const applyPatch = first.tools.find((t) => t.function?.name === 'apply_patch');
    expect(applyPatch).toMatchObject({ type: 'function', function: { parameters: { type: 'object', properties: { input: { type: 'string' } } } } });
    expect(Object.keys((applyPatch!.function!.parameters as { properties: object }).properties)).toEqual(['input']);

    // The second request gives the upstream back its own call, and the patch's result.
    const second = got[1]!.body as ChatBody;
    expectChatOnly(second);
    const asked = second.messages.find((m) => m.role === 'assistant' && m.tool_calls?.length);
    expect(asked?.tool_calls?.[0]).toMatchObject({ id: 'call_patch_1', type: 'function', function: { name: 'apply_patch' } });
    expect(JSON.parse(asked!.tool_calls![0]!.function.arguments)).toEqual({ input: patch });
    const result = second.messages.find((m) => m.role === 'tool');
    expect(result?.tool_call_id).toBe('call_patch_1');
    expect(JSON.stringify(result?.content)).toContain('hello.txt');

    const lines = await responseLogs(gw, 2);
    expect(lines.map((l) => l.status)).toEqual([200, 200]);
    // Logged under the configured model the alias resolved to.
    expect(lines.map((l) => l.model)).toEqual(['gw-coder', 'gw-coder']);
  });
});

// In CI a missing binary is an error, never a silent skip.
if (process.env.CI && !existsSync(CODEX)) throw new Error(`Codex CLI is not installed at ${CODEX} (npm ci installs it)`);
