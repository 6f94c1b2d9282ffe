import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type {
  CustomTool,
  FileSearchTool,
  FunctionTool,
  NamespaceTool,
  Response,
  ResponseCustomToolCall,
  ResponseFunctionToolCall,
  ResponseInputItem,
  ResponseOutputMessage,
  ResponseStreamEvent,
  ResponseUsage,
  ToolSearchTool,
  WebSearchTool,
} from 'openai/resources/responses/responses';
import { accumulateResponse } from 'openai/lib/responses/ResponseAccumulator';
import { describe, expect, it, vi } from 'vitest';
import {
  chatToResponse,
  MAX_STREAM_TOOL_CALLS,
  newResponseId,
  RESPONSES_LIMITS,
  responsesFormat,
  ResponsesStream,
  responsesToChat,
  responsesUsage,
  type FinishedResponse,
  type ResponseContext,
  type ResponsesRequest,
} from '../../src/protocols/responses.js';
import { callItem, customInput, itemId, statusFor } from '../../src/protocols/responses/answer.js';

/**
 * The Responses API ⇄ Chat Completions translation as pure functions: the request (items,
 * tools as Codex CLI sends them, validation), the whole answer, and the event stream, checked
 * against the `openai` SDK's types and folded with the SDK's own stream accumulator.
 */

type Json = Record<string, unknown>;

const MODEL = 'gw-coder';

// ---------------------------------------------------------------------------------------------
// What clients send (shapes typed by the SDK; Codex CLI 0.171.0's tools as it sends them)
// ---------------------------------------------------------------------------------------------

const execCommand = {
  type: 'function',
  name: 'exec_command',
  description: 'Runs a command in a PTY.',
  strict: false,
  parameters: { type: 'object', properties: { cmd: { type: 'string' }, workdir: { type: 'string' } }, required: ['cmd'], additionalProperties: false },
} satisfies FunctionTool;

const GRAMMAR = 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF\nend_patch: "*** End Patch" LF?\n%import common.LF';
const applyPatch = {
  type: 'custom',
  name: 'apply_patch',
  description: 'Use the `apply_patch` tool to edit files. This is a FREEFORM tool, so do not wrap the patch in JSON.',
  format: { type: 'grammar', syntax: 'lark', definition: GRAMMAR },
} satisfies CustomTool;

const spawnParams = { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] };
const multiAgent = {
  type: 'namespace',
  name: 'multi_agent_v1',
  description: 'Sub-agents.',
  tools: [
    { type: 'function', name: 'spawn_agent', description: 'Starts a sub-agent.', parameters: spawnParams, strict: false },
    { type: 'function', name: 'wait' },
  ],
} satisfies NamespaceTool;

const webSearch = { type: 'web_search', search_context_size: 'medium' } satisfies WebSearchTool;
const toolSearch = { type: 'tool_search', execution: 'client', parameters: { type: 'object', properties: {} } } satisfies ToolSearchTool;
const fileSearch = { type: 'file_search', vector_store_ids: ['vs_1'] } satisfies FileSearchTool;

/** A patch with what JSON must escape: quotes, backslashes, newlines, tabs, non-ASCII. */
const PATCH = '*** Begin Patch\n*** Update File: src/a.ts\n@@\n-const s = "old";\n+const s = "new\\n\tété";\n*** End Patch\n';

const user = (text: string) => ({ type: 'message', role: 'user', content: [{ type: 'input_text', text }] }) satisfies ResponseInputItem;

function parsed(body: unknown, history: readonly Json[] = []): ResponsesRequest {
  const r = responsesToChat(body, history);
  if (!r.ok) throw new Error(`refused: ${r.message} (${r.param})`);
  return r.request;
}

const chatOf = (body: Json, history?: Json[]): Json => parsed(body, history).chat as Json;
const messagesOf = (input: readonly unknown[], extra: Json = {}): unknown => chatOf({ model: MODEL, input, ...extra }).messages;

function refusal(body: unknown, history?: Json[]): { message: string; param: string | null } {
  const r = responsesToChat(body, history);
  if (r.ok) throw new Error(`accepted: ${JSON.stringify(r.request.chat)}`);
  return { message: r.message, param: r.param };
}

// ---------------------------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------------------------

describe('responsesToChat: top-level fields', () => {
  it('makes a string input one user message, and reports what the gateway needs', () => {
    expect(responsesToChat({ model: MODEL, input: 'Hi' })).toEqual({
      ok: true,
      request: {
        model: MODEL, stream: false, store: true, previousResponseId: null,
        chat: { model: MODEL, messages: [{ role: 'user', content: 'Hi' }] },
        items: [{ type: 'message', role: 'user', content: 'Hi' }],
        tools: new Map(), dropped: [], reasoningEffort: null,
        echo: {
          instructions: null, max_output_tokens: null, metadata: {}, parallel_tool_calls: true, previous_response_id: null,
          reasoning: { effort: null, summary: null }, store: true, temperature: 1, text: { format: { type: 'text' } },
          tool_choice: 'auto', tools: [], top_p: 1, truncation: 'disabled', user: null,
        },
      },
    });
  });

  it('puts instructions first, as a system message', () => {
    expect(messagesOf([user('Hi')], { instructions: 'Be brief.' })).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
    ]);
    expect(messagesOf([user('Hi')], { instructions: '' })).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }]);
  });

  // [what, Responses fields, chat fields besides model/messages]
  const table: [string, Json, Json][] = [
    ['stream: true', { stream: true }, { stream: true, stream_options: { include_usage: true } }],
    ['stream: false', { stream: false }, {}],
    ['max_output_tokens → max_tokens', { max_output_tokens: 300 }, { max_tokens: 300 }],
    ['temperature', { temperature: 0.2 }, { temperature: 0.2 }],
    ['temperature 0', { temperature: 0 }, { temperature: 0 }],
    ['temperature 2', { temperature: 2 }, { temperature: 2 }],
    ['top_p', { top_p: 0.9 }, { top_p: 0.9 }],
    ['user', { user: 'u-1' }, { user: 'u-1' }],
    ['null settings', { temperature: null, top_p: null, max_output_tokens: null, stream: null, text: null, reasoning: null }, {}],
    ['text.format text', { text: { format: { type: 'text' } } }, {}],
    ['text.format json_object', { text: { format: { type: 'json_object' } } }, { response_format: { type: 'json_object' } }],
    [
      'text.format json_schema',
      { text: { format: { type: 'json_schema', name: 'answer', description: 'The answer', schema: { type: 'object' }, strict: true } } },
      { response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true, description: 'The answer' } } },
    ],
    ['text.verbosity (not sent)', { text: { verbosity: 'low' } }, {}],
    ['reasoning.effort (not in the body)', { reasoning: { effort: 'high', summary: 'auto' } }, {}],
    ['tools without tools: tool_choice, parallel_tool_calls left out', { tool_choice: 'required', parallel_tool_calls: false }, {}],
  ];
  it.each(table)('%s', (_what, fields, extra) => {
    expect(chatOf({ model: MODEL, input: 'Hi', ...fields })).toEqual({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], ...extra });
  });

  it('reports reasoning.effort as reasoningEffort (for providers with reasoning: true)', () => {
    expect(parsed({ model: MODEL, input: 'Hi', reasoning: { effort: 'medium' } }).reasoningEffort).toBe('medium');
    expect(parsed({ model: MODEL, input: 'Hi', reasoning: { summary: 'auto' } }).reasoningEffort).toBeNull();
    expect(parsed({ model: MODEL, input: 'Hi', reasoning: { effort: '' } }).reasoningEffort).toBeNull();
  });

  it('sends nothing Responses-only to chat (a Codex CLI request)', () => {
    const body = {
      model: 'gpt-5.5',
      input: [
        { type: 'message', id: 'msg_a', role: 'developer', content: [{ type: 'input_text', text: 'You are Codex.' }] },
        { type: 'message', id: 'msg_b', role: 'user', content: [{ type: 'input_text', text: '<environment_context/>' }] },
        user('Fix the bug'),
      ],
      tools: [execCommand, applyPatch, toolSearch, { type: 'web_search', external_web_access: true, search_content_types: ['text'] }],
      tool_choice: 'auto',
      parallel_tool_calls: true,
      reasoning: { effort: 'medium', summary: 'auto' },
      text: { verbosity: 'low' },
      store: false,
      stream: true,
      include: ['reasoning.encrypted_content'],
      prompt_cache_key: '0b5e-session',
      client_metadata: { thread_id: 't-1' },
      metadata: { team: 'a' },
      truncation: 'auto',
      safety_identifier: 'who',
      service_tier: 'auto',
      top_logprobs: 2,
      max_tool_calls: 4,
      prompt_cache_retention: '24h',
      some_future_field: { x: 1 },
    };
    const r = parsed(body);
    expect(Object.keys(r.chat).sort()).toEqual(['messages', 'model', 'parallel_tool_calls', 'stream', 'stream_options', 'tool_choice', 'tools']);
    expect(r.chat.messages).toEqual([
      { role: 'system', content: 'You are Codex.' },
      { role: 'user', content: [{ type: 'text', text: '<environment_context/>' }] },
      { role: 'user', content: [{ type: 'text', text: 'Fix the bug' }] },
    ]);
    expect(r.chat.tool_choice).toBe('auto');
    expect(r.chat.parallel_tool_calls).toBe(true);
    expect((r.chat.tools as Json[]).map((t) => (t.function as Json).name)).toEqual(['exec_command', 'apply_patch']);
    expect(r).toMatchObject({ model: 'gpt-5.5', stream: true, store: false, reasoningEffort: 'medium', dropped: ['tool_search', 'web_search'] });
    expect(r.items).toBe(r.items); // the input as sent, for the stored conversation
    expect(r.items).toEqual(body.input);
    // What a response repeats (not what chat gets).
    expect(r.echo).toMatchObject({ store: false, metadata: { team: 'a' }, truncation: 'auto', prompt_cache_key: '0b5e-session', reasoning: { effort: 'medium', summary: 'auto' }, text: { verbosity: 'low' }, tools: body.tools });
  });

  it('repeats the settings in the echo as a response object shows them', () => {
    const tools = [execCommand];
    expect(parsed({
      model: MODEL, input: 'Hi', instructions: 'Be brief.', max_output_tokens: 50, temperature: 0.2, top_p: 0.9, user: 'u-1',
      parallel_tool_calls: false, tool_choice: 'required', tools, previous_response_id: 'resp_1', text: { format: { type: 'json_object' } },
    }, [user('before')]).echo).toEqual({
      instructions: 'Be brief.', max_output_tokens: 50, metadata: {}, parallel_tool_calls: false, previous_response_id: 'resp_1',
      reasoning: { effort: null, summary: null }, store: true, temperature: 0.2, text: { format: { type: 'json_object' } },
      tool_choice: 'required', tools, top_p: 0.9, truncation: 'disabled', user: 'u-1',
    });
  });
});

describe('responsesToChat: message items', () => {
  it('maps the roles: developer and system become system (plain "easy" messages without type too)', () => {
    expect(messagesOf([
      { role: 'developer', content: 'Rules.' },
      { role: 'system', content: 'More rules.' },
      { role: 'user', content: 'Q1' },
      { role: 'assistant', content: 'A1' },
      { type: 'message', role: 'user', content: 'Q2' },
    ] satisfies ResponseInputItem[])).toEqual([
      { role: 'system', content: 'Rules.' },
      { role: 'system', content: 'More rules.' },
      { role: 'user', content: 'Q1' },
      { role: 'assistant', content: 'A1' },
      { role: 'user', content: 'Q2' },
    ]);
  });

  it('maps user content parts: text, images (URL or data URL, detail kept unless auto), files', () => {
    expect(messagesOf([{
      role: 'user',
      content: [
        { type: 'input_text', text: 'What is this?' },
        { type: 'input_image', image_url: 'https://x.test/a.png', detail: 'auto' },
        { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'high' },
        { type: 'input_file', file_data: 'data:application/pdf;base64,JVBE', filename: 'a.pdf' },
        { type: 'input_file', file_id: 'file-1' },
      ],
    }] satisfies ResponseInputItem[])).toEqual([{
      role: 'user',
      content: [
        { type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url: 'https://x.test/a.png' } },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'high' } },
        { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE', filename: 'a.pdf' } },
        { type: 'file', file: { file_id: 'file-1' } },
      ],
    }]);
  });

  it('accepts output_text parts in a user message as text', () => {
    expect(messagesOf([{ role: 'user', content: [{ type: 'output_text', text: 'quoted' }] }])).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'quoted' }] },
    ]);
  });

  it('joins the text parts of system, developer and assistant messages (refusals as text)', () => {
    const earlier = {
      type: 'message', id: 'msg_1', role: 'assistant', status: 'completed',
      content: [
        { type: 'output_text', text: 'Part one. ', annotations: [] },
        { type: 'refusal', refusal: 'I cannot do the rest.' },
      ],
    } satisfies ResponseOutputMessage;
    expect(messagesOf([
      { role: 'developer', content: [{ type: 'input_text', text: 'a' }, { type: 'input_text', text: 'b' }] },
      { role: 'user', content: 'Hi' },
      earlier,
    ])).toEqual([
      { role: 'system', content: 'ab' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Part one. I cannot do the rest.' },
    ]);
  });
});

describe('responsesToChat: calls and their outputs in the input', () => {
  it('merges an assistant message and the function calls after it into one message, outputs as tool messages', () => {
    expect(messagesOf([
      user('Weather in Paris and Rome?'),
      { type: 'message', role: 'assistant', content: 'Let me check.' },
      { type: 'reasoning', id: 'rs_1', summary: [], content: null, encrypted_content: 'gAAAA…' },
      { type: 'function_call', id: 'fc_1', status: 'completed', call_id: 'call_a', name: 'exec_command', arguments: '{"cmd":"weather paris"}' },
      { type: 'function_call', id: 'fc_2', status: 'completed', call_id: 'call_b', name: 'exec_command', arguments: '{"cmd":"weather rome"}' },
      { type: 'function_call_output', id: 'fco_1', call_id: 'call_a', output: 'sunny' },
      { type: 'function_call_output', id: 'fco_2', call_id: 'call_b', output: 'rain' },
      user('Thanks'),
    ], { tools: [execCommand] })).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant', content: 'Let me check.',
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'exec_command', arguments: '{"cmd":"weather paris"}' } },
          { id: 'call_b', type: 'function', function: { name: 'exec_command', arguments: '{"cmd":"weather rome"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_a', content: 'sunny' },
      { role: 'tool', tool_call_id: 'call_b', content: 'rain' },
      { role: 'user', content: [{ type: 'text', text: 'Thanks' }] },
    ]);
  });

  it('gives a call with no message before it an assistant message of its own (content null, arguments "" → {})', () => {
    expect(messagesOf([
      user('Go'),
      { type: 'function_call', call_id: 'call_a', name: 'wait', arguments: '' },
      { type: 'function_call_output', call_id: 'call_a', output: [{ type: 'input_text', text: 'done ' }, { type: 'input_image', image_url: 'data:image/png;base64,AA', detail: 'auto' }, { type: 'input_text', text: 'now' }] },
      { type: 'function_call', call_id: 'call_b', name: 'wait', arguments: '{}' },
      { type: 'function_call_output', call_id: 'call_b', output: '' },
    ] satisfies ResponseInputItem[])).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Go' }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'wait', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_a', content: 'done [image]now' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_b', type: 'function', function: { name: 'wait', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_b', content: '' },
    ]);
  });

  it('turns a custom tool call (Codex apply_patch) into a call with arguments {"input": …} and its output into a tool message', () => {
    const call = { type: 'custom_tool_call', id: 'ctc_1', call_id: 'call_p', name: 'apply_patch', input: PATCH } satisfies ResponseCustomToolCall;
    const messages = messagesOf([
      user('Edit a.ts'),
      { ...call, status: 'completed' },
      { type: 'custom_tool_call_output', id: 'ctco_1', call_id: 'call_p', output: 'Success. Updated: src/a.ts' },
    ], { tools: [applyPatch] }) as Json[];
    expect(messages.slice(1)).toEqual([
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_p', type: 'function', function: { name: 'apply_patch', arguments: JSON.stringify({ input: PATCH }) } }] },
      { role: 'tool', tool_call_id: 'call_p', content: 'Success. Updated: src/a.ts' },
    ]);
    const args = (((messages[1] as Json).tool_calls as Json[])[0]?.function as Json).arguments as string;
    expect(JSON.parse(args)).toEqual({ input: PATCH });
  });

  it('names a namespaced call by its flattened chat name', () => {
    const calls = (input: unknown[], tools: unknown[]) =>
      ((messagesOf(input, { tools }) as Json[])[1]?.tool_calls as Json[]).map((c) => (c.function as Json).name);
    const history = [
      user('Spawn'),
      { type: 'function_call', call_id: 'c1', namespace: 'multi_agent_v1', name: 'spawn_agent', arguments: '{"message":"hi"}' },
      { type: 'function_call', call_id: 'c2', name: 'exec_command', arguments: '{}' },
    ] satisfies ResponseInputItem[];
    expect(calls(history, [multiAgent, execCommand])).toEqual(['multi_agent_v1__spawn_agent', 'exec_command']);
    // Not offered in this request: the same flattening.
    expect(calls(history, [])).toEqual(['multi_agent_v1__spawn_agent', 'exec_command']);
    // Names a chat function cannot have: the same flat name the tool got.
    const dotted = { type: 'namespace', name: 'mcp.fs', description: 'Files', tools: [{ type: 'function', name: 'read.file' }] } satisfies NamespaceTool;
    expect(parsed({ model: MODEL, input: 'x', tools: [dotted] }).tools).toEqual(new Map([['mcp_fs__read_file', { kind: 'function', name: 'read.file', namespace: 'mcp.fs' }]]));
    expect(calls([user('x'), { type: 'function_call', call_id: 'c', namespace: 'mcp.fs', name: 'read.file', arguments: '{}' }], [dotted])).toEqual(['mcp_fs__read_file']);
  });

  it('skips reasoning items (content null, encrypted_content) without a word, and hosted tools\' items with a word in dropped', () => {
    const r = parsed({
      model: MODEL,
      input: [
        user('Search'),
        { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'thinking' }], content: null, encrypted_content: 'gAAAAsecret' },
        { type: 'web_search_call', id: 'ws_1', status: 'completed', action: { type: 'search', query: 'q' } },
        { type: 'web_search_call', id: 'ws_2', status: 'completed', action: { type: 'search', query: 'r' } },
        { type: 'shell_call', id: 'sh_1', call_id: 'c', action: { commands: ['ls'] }, status: 'completed' },
        { type: 'shell_call_output', call_id: 'c', output: [] },
        { type: 'message', role: 'assistant', content: 'Found it.' },
        { type: 'reasoning', id: 'rs_2', summary: [] },
      ],
    });
    expect(r.chat.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Search' }] }, { role: 'assistant', content: 'Found it.' }]);
    expect(r.dropped).toEqual(['web_search_call', 'shell_call', 'shell_call_output']);
    expect(JSON.stringify(r.chat)).not.toContain('gAAAA');
    expect(JSON.stringify(r.chat)).not.toContain('thinking');
  });
});

describe('responsesToChat: tools', () => {
  it('passes function tools as chat functions (strict kept, parameters defaulted)', () => {
    expect(chatOf({ model: MODEL, input: 'x', tools: [execCommand, { type: 'function', name: 'ping', parameters: null, strict: null }] }).tools).toEqual([
      { type: 'function', function: { name: 'exec_command', description: 'Runs a command in a PTY.', parameters: execCommand.parameters, strict: false } },
      { type: 'function', function: { name: 'ping', parameters: { type: 'object', properties: {} } } },
    ]);
  });

  it('offers a custom tool (Codex apply_patch) as a function of one string, input, its grammar in the description', () => {
    const r = parsed({ model: MODEL, input: 'x', tools: [applyPatch] });
    expect(r.chat.tools).toEqual([{
      type: 'function',
      function: {
        name: 'apply_patch',
        description: applyPatch.description,
        parameters: {
          type: 'object',
          properties: { input: { type: 'string', description: `The tool's whole input, as free text. It must match this lark grammar:\n${GRAMMAR}` } },
          required: ['input'],
          additionalProperties: false,
        },
      },
    }]);
    expect(r.tools).toEqual(new Map([['apply_patch', { kind: 'custom', name: 'apply_patch', namespace: null }]]));
  });

  it('bounds the grammar it copies, and says nothing of a grammar for a text format', () => {
    const long = { ...applyPatch, format: { type: 'grammar', syntax: 'regex', definition: 'a'.repeat(RESPONSES_LIMITS.grammarChars + 10) } } satisfies CustomTool;
    const description = (tool: unknown) => {
      const fn = ((chatOf({ model: MODEL, input: 'x', tools: [tool] }).tools as Json[])[0]?.function as Json);
      return ((fn.parameters as Json).properties as Record<string, Json>).input?.description;
    };
    expect(description(long)).toBe(`The tool's whole input, as free text. It must match this regex grammar:\n${'a'.repeat(RESPONSES_LIMITS.grammarChars)}`);
    expect(description({ type: 'custom', name: 'note', format: { type: 'text' } } satisfies CustomTool)).toBe('The tool\'s whole input, as free text.');
    expect(description({ type: 'custom', name: 'note' } satisfies CustomTool)).toBe('The tool\'s whole input, as free text.');
  });

  it('flattens a namespace to <namespace>__<name> functions (custom tools in it too)', () => {
    const ns = { ...multiAgent, tools: [...multiAgent.tools, { type: 'custom', name: 'note', description: 'Free text.' }] } satisfies NamespaceTool;
    const r = parsed({ model: MODEL, input: 'x', tools: [ns] });
    expect(r.chat.tools).toEqual([
      { type: 'function', function: { name: 'multi_agent_v1__spawn_agent', description: 'Starts a sub-agent.', parameters: spawnParams, strict: false } },
      { type: 'function', function: { name: 'multi_agent_v1__wait', parameters: { type: 'object', properties: {} } } },
      {
        type: 'function',
        function: {
          name: 'multi_agent_v1__note', description: 'Free text.',
          parameters: { type: 'object', properties: { input: { type: 'string', description: 'The tool\'s whole input, as free text.' } }, required: ['input'], additionalProperties: false },
        },
      },
    ]);
    expect(r.tools).toEqual(new Map([
      ['multi_agent_v1__spawn_agent', { kind: 'function', name: 'spawn_agent', namespace: 'multi_agent_v1' }],
      ['multi_agent_v1__wait', { kind: 'function', name: 'wait', namespace: 'multi_agent_v1' }],
      ['multi_agent_v1__note', { kind: 'custom', name: 'note', namespace: 'multi_agent_v1' }],
    ]));
  });

  it('drops hosted tools (web_search, tool_search, file_search…) and names each once in dropped', () => {
    const r = parsed({ model: MODEL, input: 'x', tools: [webSearch, execCommand, toolSearch, fileSearch, { type: 'web_search' }, { type: 'image_generation' }] });
    expect((r.chat.tools as Json[]).map((t) => (t.function as Json).name)).toEqual(['exec_command']);
    expect(r.dropped).toEqual(['web_search', 'tool_search', 'file_search', 'image_generation']);
    const long = 'x'.repeat(100);
    expect(parsed({ model: MODEL, input: 'x', tools: [{ type: long }, { type: long }] }).dropped).toEqual(['x'.repeat(64)]);
  });

  it('maps tools for the answer back: the Codex set', () => {
    expect(parsed({ model: MODEL, input: 'x', tools: [execCommand, applyPatch, multiAgent, webSearch] }).tools).toEqual(new Map([
      ['exec_command', { kind: 'function', name: 'exec_command', namespace: null }],
      ['apply_patch', { kind: 'custom', name: 'apply_patch', namespace: null }],
      ['multi_agent_v1__spawn_agent', { kind: 'function', name: 'spawn_agent', namespace: 'multi_agent_v1' }],
      ['multi_agent_v1__wait', { kind: 'function', name: 'wait', namespace: 'multi_agent_v1' }],
    ]));
  });
});

describe('responsesToChat: tool_choice and parallel_tool_calls', () => {
  const tools = [execCommand, applyPatch, webSearch];
  // [what, tool_choice, chat tool_choice]
  const table: [string, unknown, unknown][] = [
    ['auto', 'auto', 'auto'],
    ['none', 'none', 'none'],
    ['required', 'required', 'required'],
    ['a function', { type: 'function', name: 'exec_command' }, { type: 'function', function: { name: 'exec_command' } }],
    ['a custom tool', { type: 'custom', name: 'apply_patch' }, { type: 'function', function: { name: 'apply_patch' } }],
    ['allowed_tools required', { type: 'allowed_tools', mode: 'required', tools: [{ type: 'function', name: 'exec_command' }] }, 'required'],
    ['allowed_tools auto', { type: 'allowed_tools', mode: 'auto', tools: [{ type: 'function', name: 'exec_command' }] }, 'auto'],
    ['a hosted tool (dropped)', { type: 'web_search_preview' }, 'auto'],
  ];
  it.each(table)('%s', (_what, choice, expected) => {
    expect(chatOf({ model: MODEL, input: 'x', tools, tool_choice: choice }).tool_choice).toEqual(expected);
  });

  it('leaves tool_choice out when none is given, keeps parallel_tool_calls as given', () => {
    const chat = chatOf({ model: MODEL, input: 'x', tools, parallel_tool_calls: false });
    expect(chat.tool_choice).toBeUndefined();
    expect(chat.parallel_tool_calls).toBe(false);
    expect('parallel_tool_calls' in chatOf({ model: MODEL, input: 'x', tools })).toBe(false);
  });

  it('leaves tools, tool_choice and parallel_tool_calls out when only hosted tools were offered', () => {
    const chat = chatOf({ model: MODEL, input: 'x', tools: [webSearch, toolSearch], tool_choice: { type: 'function', name: 'gone' }, parallel_tool_calls: true });
    expect(chat).toEqual({ model: MODEL, messages: [{ role: 'user', content: 'x' }] });
  });

  it('refuses a choice naming no tool of the request, or of no known form', () => {
    expect(refusal({ model: MODEL, input: 'x', tools, tool_choice: { type: 'function', name: 'rm_rf' } }).param).toBe('tool_choice.name');
    expect(refusal({ model: MODEL, input: 'x', tools: [multiAgent], tool_choice: { type: 'function', name: 'spawn_agent' } }).param).toBe('tool_choice.name');
    expect(refusal({ model: MODEL, input: 'x', tools, tool_choice: 'sometimes' }).param).toBe('tool_choice');
    expect(refusal({ model: MODEL, input: 'x', tools, parallel_tool_calls: 'yes' }).param).toBe('parallel_tool_calls');
  });
});

describe('responsesToChat: the stored conversation (previous_response_id)', () => {
  const history: Json[] = [
    { type: 'message', role: 'user', content: 'Weather in Paris?' },
    { id: 'fc_0', type: 'function_call', status: 'completed', call_id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
  ];

  it('goes after the instructions and before the new input; items are only the new input', () => {
    const input = [{ type: 'function_call_output', call_id: 'call_a', output: '22°C' }, user('And tomorrow?')];
    const r = parsed({ model: MODEL, instructions: 'Be brief.', previous_response_id: 'resp_prev', input }, history);
    expect(r.chat.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_a', content: '22°C' },
      { role: 'user', content: [{ type: 'text', text: 'And tomorrow?' }] },
    ]);
    expect(r.items).toEqual(input);
    expect(r.previousResponseId).toBe('resp_prev');
  });

  it('is enough on its own (no new input)', () => {
    expect(parsed({ model: MODEL, previous_response_id: 'resp_prev' }, history).chat.messages).toHaveLength(2);
  });

  it('names where a bad stored item is', () => {
    expect(refusal({ model: MODEL, input: 'x' }, [{ type: 'message', role: 'bogus', content: 'x' }]).param).toBe('previous_response_id(0).role');
  });
});

describe('responsesToChat: what it refuses, and the param it names', () => {
  const tool = (name: string) => ({ type: 'function', name });
  // [what, body, param]
  const table: [string, unknown, string | null][] = [
    ['a body that is not an object', [], null],
    ['no model', { input: 'x' }, 'model'],
    ['an empty model', { model: '', input: 'x' }, 'model'],
    ['a model of another type', { model: 5, input: 'x' }, 'model'],
    ['a model too long', { model: 'm'.repeat(RESPONSES_LIMITS.modelChars + 1), input: 'x' }, 'model'],
    ['temperature above 2', { model: MODEL, input: 'x', temperature: 2.5 }, 'temperature'],
    ['temperature below 0', { model: MODEL, input: 'x', temperature: -0.1 }, 'temperature'],
    ['temperature as a string', { model: MODEL, input: 'x', temperature: '1' }, 'temperature'],
    ['top_p above 1', { model: MODEL, input: 'x', top_p: 1.5 }, 'top_p'],
    ['max_output_tokens 0', { model: MODEL, input: 'x', max_output_tokens: 0 }, 'max_output_tokens'],
    ['max_output_tokens not an integer', { model: MODEL, input: 'x', max_output_tokens: 1.5 }, 'max_output_tokens'],
    ['stream not a boolean', { model: MODEL, input: 'x', stream: 'yes' }, 'stream'],
    ['store not a boolean', { model: MODEL, input: 'x', store: 1 }, 'store'],
    ['background: true', { model: MODEL, input: 'x', background: true }, 'background'],
    ['conversation', { model: MODEL, input: 'x', conversation: 'conv_1' }, 'conversation'],
    ['prompt templates', { model: MODEL, input: 'x', prompt: { id: 'pmpt_1' } }, 'prompt'],
    ['previous_response_id not a string', { model: MODEL, input: 'x', previous_response_id: 5 }, 'previous_response_id'],
    ['instructions not a string', { model: MODEL, input: 'x', instructions: ['a'] }, 'instructions'],
    ['input of another type', { model: MODEL, input: 5 }, 'input'],
    ['no input at all', { model: MODEL, input: [] }, 'input'],
    ['too many items', { model: MODEL, input: new Array(RESPONSES_LIMITS.items + 1).fill({ role: 'user', content: 'x' }) }, 'input'],
    ['an item that is not an object', { model: MODEL, input: [user('x'), 'y'] }, 'input[1]'],
    ['an unknown item type', { model: MODEL, input: [user('x'), { type: 'telepathy' }] }, 'input[1].type'],
    ['an item with neither type nor role', { model: MODEL, input: [{ content: 'x' }] }, 'input[0].type'],
    ['an unknown role', { model: MODEL, input: [{ role: 'tool', content: 'x' }] }, 'input[0].role'],
    ['message content of another type', { model: MODEL, input: [{ role: 'user', content: 5 }] }, 'input[0].content'],
    ['an unknown part type', { model: MODEL, input: [{ role: 'user', content: [{ type: 'input_audio' }] }] }, 'input[0].content[0].type'],
    ['a text part without text', { model: MODEL, input: [{ role: 'user', content: [{ type: 'input_text' }] }] }, 'input[0].content[0].text'],
    ['an image by file_id', { model: MODEL, input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1', detail: 'auto' }] }] }, 'input[0].content[0].image_url'],
    ['a file by URL', { model: MODEL, input: [{ role: 'user', content: [{ type: 'input_file', file_url: 'https://x.test/a.pdf' }] }] }, 'input[0].content[0]'],
    ['an image in a system message', { model: MODEL, input: [{ role: 'system', content: [{ type: 'input_image', image_url: 'https://x.test/a.png' }] }] }, 'input[0].content[0].type'],
    ['a function_call without call_id', { model: MODEL, input: [user('x'), { type: 'function_call', name: 'f', arguments: '{}' }] }, 'input[1].call_id'],
    ['a function_call_output without call_id', { model: MODEL, input: [user('x'), { type: 'function_call_output', output: 'r' }] }, 'input[1].call_id'],
    ['a custom_tool_call without call_id', { model: MODEL, input: [user('x'), { type: 'custom_tool_call', name: 'apply_patch', input: 'p' }] }, 'input[1].call_id'],
    ['a custom_tool_call without input', { model: MODEL, input: [user('x'), { type: 'custom_tool_call', call_id: 'c', name: 'apply_patch' }] }, 'input[1].input'],
    ['a call output of another type', { model: MODEL, input: [user('x'), { type: 'function_call_output', call_id: 'c', output: 5 }] }, 'input[1].output'],
    ['an item_reference', { model: MODEL, input: [user('x'), { type: 'item_reference', id: 'msg_1' }] }, 'input[1].type'],
    ['tools not an array', { model: MODEL, input: 'x', tools: {} }, 'tools'],
    ['too many tools', { model: MODEL, input: 'x', tools: Array.from({ length: RESPONSES_LIMITS.tools + 1 }, (_, i) => tool(`f${i}`)) }, 'tools'],
    ['a tool that is not an object', { model: MODEL, input: 'x', tools: [null] }, 'tools[0]'],
    ['a tool without type', { model: MODEL, input: 'x', tools: [{ name: 'f' }] }, 'tools[0].type'],
    ['a function without name', { model: MODEL, input: 'x', tools: [{ type: 'function' }] }, 'tools[0].name'],
    ['a name with a dot', { model: MODEL, input: 'x', tools: [tool('get.weather')] }, 'tools[0].name'],
    ['a name with a space', { model: MODEL, input: 'x', tools: [tool('get weather')] }, 'tools[0].name'],
    ['a name of 65 characters', { model: MODEL, input: 'x', tools: [tool('f'.repeat(65))] }, 'tools[0].name'],
    ['a custom tool with a bad name', { model: MODEL, input: 'x', tools: [{ type: 'custom', name: 'apply/patch' }] }, 'tools[0].name'],
    ['a function offered twice', { model: MODEL, input: 'x', tools: [tool('f'), tool('g'), tool('f')] }, 'tools[2].name'],
    ['a custom tool named as a function', { model: MODEL, input: 'x', tools: [tool('apply_patch'), applyPatch] }, 'tools[1].name'],
    ['a namespace function named as a flat function', { model: MODEL, input: 'x', tools: [tool('multi_agent_v1__wait'), multiAgent] }, 'tools[1].tools[1].name'],
    ['a namespace without name', { model: MODEL, input: 'x', tools: [{ type: 'namespace', tools: [] }] }, 'tools[0].name'],
    ['parameters that are not a schema', { model: MODEL, input: 'x', tools: [{ type: 'function', name: 'f', parameters: 'x' }] }, 'tools[0].parameters'],
    ['text not an object', { model: MODEL, input: 'x', text: 'json' }, 'text'],
    ['text.format not an object', { model: MODEL, input: 'x', text: { format: 'json' } }, 'text.format'],
    ['an unknown text.format', { model: MODEL, input: 'x', text: { format: { type: 'xml' } } }, 'text.format.type'],
    ['json_schema without name', { model: MODEL, input: 'x', text: { format: { type: 'json_schema', schema: {} } } }, 'text.format.name'],
    ['json_schema without schema', { model: MODEL, input: 'x', text: { format: { type: 'json_schema', name: 'a' } } }, 'text.format.schema'],
    ['reasoning not an object', { model: MODEL, input: 'x', reasoning: 'high' }, 'reasoning'],
  ];
  it.each(table)('%s', (_what, body, param) => {
    const r = refusal(body);
    expect(r.param).toBe(param);
    expect(r.message).not.toBe('');
    if (param !== null) expect(r.message.startsWith(param.replace(/\.type$|\.name$/, ''))).toBe(true);
  });

  it('bounds the content parts of the whole request', () => {
    const half = Math.ceil(RESPONSES_LIMITS.parts / 2) + 1;
    const part = { type: 'input_text', text: '' };
    const input = [{ role: 'user', content: new Array(half).fill(part) }, { role: 'user', content: new Array(half).fill(part) }];
    expect(refusal({ model: MODEL, input }).param).toBe('input[1].content');
  });

  it('accepts background: false and null for the refused fields', () => {
    expect(responsesToChat({ model: MODEL, input: 'x', background: false, conversation: null, prompt: null }).ok).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// What the SDK's types require (checked by tsc: the lists must name every required key)
// ---------------------------------------------------------------------------------------------

type RequiredKeys<T> = { [K in keyof T]-?: Pick<T, K> extends Required<Pick<T, K>> ? K : never }[keyof T];
type EventOf<T extends ResponseStreamEvent['type']> = Extract<ResponseStreamEvent, { type: T }>;
type Emitted =
  | 'response.created' | 'response.in_progress' | 'response.completed' | 'response.incomplete' | 'response.failed'
  | 'response.output_item.added' | 'response.output_item.done' | 'response.content_part.added' | 'response.content_part.done'
  | 'response.output_text.delta' | 'response.output_text.done' | 'response.function_call_arguments.delta'
  | 'response.function_call_arguments.done' | 'response.custom_tool_call_input.delta' | 'response.custom_tool_call_input.done';

const EVENT_KEYS = {
  'response.created': ['type', 'sequence_number', 'response'],
  'response.in_progress': ['type', 'sequence_number', 'response'],
  'response.completed': ['type', 'sequence_number', 'response'],
  'response.incomplete': ['type', 'sequence_number', 'response'],
  'response.failed': ['type', 'sequence_number', 'response'],
  'response.output_item.added': ['type', 'sequence_number', 'output_index', 'item'],
  'response.output_item.done': ['type', 'sequence_number', 'output_index', 'item'],
  'response.content_part.added': ['type', 'sequence_number', 'item_id', 'output_index', 'content_index', 'part'],
  'response.content_part.done': ['type', 'sequence_number', 'item_id', 'output_index', 'content_index', 'part'],
  'response.output_text.delta': ['type', 'sequence_number', 'item_id', 'output_index', 'content_index', 'delta', 'logprobs'],
  'response.output_text.done': ['type', 'sequence_number', 'item_id', 'output_index', 'content_index', 'text', 'logprobs'],
  'response.function_call_arguments.delta': ['type', 'sequence_number', 'item_id', 'output_index', 'delta'],
  'response.function_call_arguments.done': ['type', 'sequence_number', 'item_id', 'output_index', 'name', 'arguments'],
  'response.custom_tool_call_input.delta': ['type', 'sequence_number', 'item_id', 'output_index', 'delta'],
  'response.custom_tool_call_input.done': ['type', 'sequence_number', 'item_id', 'output_index', 'input'],
} as const satisfies { [T in Emitted]: readonly RequiredKeys<EventOf<T>>[] };
type MissingEventKey = { [T in Emitted]: Exclude<RequiredKeys<EventOf<T>>, (typeof EVENT_KEYS)[T][number]> }[Emitted];
const eventKeysComplete: [MissingEventKey] extends [never] ? true : never = true;

/** The response object's keys: the SDK's required ones (not `output_text`, which the SDK adds) and what the gateway always sends. */
const RESPONSE_KEYS = [
  'id', 'object', 'created_at', 'status', 'error', 'incomplete_details', 'instructions', 'metadata', 'model', 'output',
  'parallel_tool_calls', 'temperature', 'tool_choice', 'tools', 'top_p', 'usage', 'background', 'max_output_tokens',
  'previous_response_id', 'reasoning', 'text', 'truncation', 'user', 'store',
] as const satisfies readonly (keyof Response | 'store')[];
type MissingResponseKey = Exclude<RequiredKeys<Response>, 'output_text' | (typeof RESPONSE_KEYS)[number]>;
const responseKeysComplete: [MissingResponseKey] extends [never] ? true : never = true;

/** Output items' keys: the SDK's required ones, and `id` and `status` besides (Codex keeps items by id). */
const ITEM_KEYS = {
  message: ['id', 'type', 'status', 'role', 'content'],
  function_call: ['id', 'type', 'status', 'call_id', 'name', 'arguments'],
  custom_tool_call: ['id', 'type', 'status', 'call_id', 'name', 'input'],
} as const satisfies {
  message: readonly (keyof ResponseOutputMessage)[];
  function_call: readonly (keyof ResponseFunctionToolCall)[];
  custom_tool_call: readonly (keyof ResponseCustomToolCall | 'status')[];
};
type MissingItemKey =
  | Exclude<RequiredKeys<ResponseOutputMessage>, (typeof ITEM_KEYS.message)[number]>
  | Exclude<RequiredKeys<ResponseFunctionToolCall>, (typeof ITEM_KEYS.function_call)[number]>
  | Exclude<RequiredKeys<ResponseCustomToolCall>, (typeof ITEM_KEYS.custom_tool_call)[number]>;
const itemKeysComplete: [MissingItemKey] extends [never] ? true : never = true;

const USAGE_KEYS = ['input_tokens', 'input_tokens_details', 'output_tokens', 'output_tokens_details', 'total_tokens'] as const satisfies readonly RequiredKeys<ResponseUsage>[];

it('names every key the SDK types require (compile-time lists)', () => {
  expect([eventKeysComplete, responseKeysComplete, itemKeysComplete]).toEqual([true, true, true]);
});

function checkItem(item: unknown, status: 'in_progress' | 'completed' | 'incomplete'): void {
  const i = item as Json;
  const keys = ITEM_KEYS[i.type as keyof typeof ITEM_KEYS];
  expect(keys, `item type ${String(i.type)}`).toBeDefined();
  for (const k of keys) expect(i, `${String(i.type)}.${k}`).toHaveProperty(k);
  expect(i.status).toBe(status);
  expect(i.id).toMatch(/^(msg|fc|ctc)_[0-9a-f]+_\d+$/);
  if (i.type === 'message') {
    expect(i.role).toBe('assistant');
    for (const part of i.content as Json[]) expect(part).toEqual({ type: 'output_text', text: expect.any(String), annotations: [], logprobs: [] });
  }
}

function checkResponse(response: unknown, ctx: ResponseContext): void {
  const r = response as Json;
  for (const k of RESPONSE_KEYS) expect(r, `response.${k}`).toHaveProperty(k);
  expect(r).toMatchObject({ id: ctx.id, object: 'response', created_at: ctx.createdAt, model: ctx.model, background: false });
  expect(['completed', 'incomplete', 'failed', 'in_progress']).toContain(r.status);
  // Text cut short (length, content filter) is an incomplete message, as OpenAI marks it.
  for (const item of r.output as Json[]) checkItem(item, r.status === 'incomplete' && item.type === 'message' ? 'incomplete' : 'completed');
  if (r.usage !== null) {
    expect(Object.keys(r.usage as Json)).toEqual([...USAGE_KEYS]);
    const u = r.usage as ResponseUsage;
    expect(u.total_tokens).toBe(u.input_tokens + u.output_tokens);
  }
}

// ---------------------------------------------------------------------------------------------
// The whole answer
// ---------------------------------------------------------------------------------------------

const RID = `resp_${'0123456789abcdef'.repeat(2)}`;
const HEX = RID.slice(5);
const CREATED = 1_700_000_000;
const codexTools = [execCommand, applyPatch, multiAgent, webSearch];

function ctxFor(body: Json = { model: 'gpt-5.5', input: 'Hi', tools: codexTools }, model = MODEL): ResponseContext {
  return { request: parsed(body), id: RID, model, createdAt: CREATED };
}

const USAGE = { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25, prompt_tokens_details: { cached_tokens: 8 }, completion_tokens_details: { reasoning_tokens: 2 } };
const RESPONSES_USAGE = { input_tokens: 20, input_tokens_details: { cached_tokens: 8 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 2 }, total_tokens: 25 };

type ToolCall = { id?: string; name: string; arguments: string };

function completion(content: string | null, calls: ToolCall[] = [], finish = calls.length > 0 ? 'tool_calls' : 'stop', usage: unknown = USAGE, refusal: string | null = null): ChatCompletion {
  const message: Json = { role: 'assistant', content, refusal };
  if (calls.length > 0) message.tool_calls = calls.map((c) => ({ ...(c.id ? { id: c.id } : {}), type: 'function', function: { name: c.name, arguments: c.arguments } }));
  return {
    id: 'chatcmpl-1', object: 'chat.completion', created: CREATED, model: 'upstream-model',
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
    ...(usage === null ? {} : { usage }),
  } as unknown as ChatCompletion;
}

function answer(json: unknown, ctx = ctxFor()): Json {
  const r = chatToResponse(json, ctx);
  if (r === null) throw new Error('not a chat completion');
  checkResponse(r, ctx);
  return r;
}

describe('chatToResponse', () => {
  it('answers text as a message item, with the client\'s model, usage and the request\'s settings', () => {
    const ctx = ctxFor({ model: 'gpt-4o', input: 'Hi', instructions: 'Be brief.', metadata: { team: 'a' } }, 'gpt-4o');
    expect(answer(completion('Bonjour!'), ctx)).toEqual({
      id: RID, object: 'response', created_at: CREATED, status: 'completed', background: false, error: null, incomplete_details: null,
      model: 'gpt-4o',
      output: [{ id: itemId('msg', RID, 0), type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Bonjour!', annotations: [], logprobs: [] }] }],
      usage: RESPONSES_USAGE,
      ...ctx.request.echo,
    });
  });

  it('names the model the client asked for, never the upstream\'s', () => {
    expect(answer(completion('x'), ctxFor(undefined, 'my-alias')).model).toBe('my-alias');
  });

  it('answers a refusal as text', () => {
    expect(answer(completion(null, [], 'stop', USAGE, 'I can\'t help with that.')).output).toEqual([
      { id: itemId('msg', RID, 0), type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'I can\'t help with that.', annotations: [], logprobs: [] }] },
    ]);
  });

  it('answers calls as the client offered the tools: function_call, custom_tool_call (input unwrapped), namespaced', () => {
    const r = answer(completion('On it.', [
      { id: 'call_1', name: 'exec_command', arguments: '{"cmd":"ls"}' },
      { id: 'call_2', name: 'apply_patch', arguments: JSON.stringify({ input: PATCH }) },
      { id: 'call_3', name: 'multi_agent_v1__spawn_agent', arguments: '{"message":"go"}' },
      { id: 'call_4', name: 'not_offered', arguments: '{}' },
    ]));
    expect(r.status).toBe('completed');
    expect(r.output).toEqual([
      { id: itemId('msg', RID, 0), type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'On it.', annotations: [], logprobs: [] }] },
      { id: itemId('fc', RID, 1), type: 'function_call', status: 'completed', arguments: '{"cmd":"ls"}', call_id: 'call_1', name: 'exec_command' },
      { id: itemId('ctc', RID, 2), type: 'custom_tool_call', status: 'completed', call_id: 'call_2', name: 'apply_patch', input: PATCH },
      { id: itemId('fc', RID, 3), type: 'function_call', status: 'completed', arguments: '{"message":"go"}', call_id: 'call_3', name: 'spawn_agent', namespace: 'multi_agent_v1' },
      { id: itemId('fc', RID, 4), type: 'function_call', status: 'completed', arguments: '{}', call_id: 'call_4', name: 'not_offered' },
    ]);
  });

  it('answers a custom tool inside a namespace with its namespace', () => {
    const ns = { ...multiAgent, tools: [{ type: 'custom', name: 'note' }] } satisfies NamespaceTool;
    const r = answer(completion(null, [{ id: 'c', name: 'multi_agent_v1__note', arguments: '{"input":"hello"}' }]), ctxFor({ model: MODEL, input: 'x', tools: [ns] }));
    expect(r.output).toEqual([{ id: itemId('ctc', RID, 0), type: 'custom_tool_call', status: 'completed', call_id: 'c', name: 'note', input: 'hello', namespace: 'multi_agent_v1' }]);
  });

  it('makes up call ids the upstream left out, and numbers items from 0 without text', () => {
    const r = answer(completion(null, [{ name: 'exec_command', arguments: '{}' }, { name: 'exec_command', arguments: '{}' }]));
    expect((r.output as Json[]).map((i) => [i.id, i.call_id])).toEqual([[itemId('fc', RID, 0), `call_${HEX}_0`], [itemId('fc', RID, 1), `call_${HEX}_1`]]);
  });

  it('unwraps a custom tool\'s input only from {"input": string}; anything else is the input as written', () => {
    expect(customInput(JSON.stringify({ input: PATCH }))).toBe(PATCH);
    expect(customInput('*** Begin Patch')).toBe('*** Begin Patch');
    expect(customInput('{"patch":"x"}')).toBe('{"patch":"x"}');
    expect(customInput('{"input":5}')).toBe('{"input":5}');
    expect(customInput('"just a string"')).toBe('"just a string"');
    expect(customInput('')).toBe('');
  });

  it('builds call items for the stream as in_progress with nothing in them yet', () => {
    const tools = ctxFor().request.tools;
    expect(callItem(tools, RID, 2, 'c', 'apply_patch', '{"input":"x"}', 'in_progress')).toEqual({ id: itemId('ctc', RID, 2), type: 'custom_tool_call', status: 'in_progress', call_id: 'c', name: 'apply_patch', input: '' });
    expect(callItem(tools, RID, 0, 'c', 'exec_command', '', 'in_progress')).toEqual({ id: itemId('fc', RID, 0), type: 'function_call', status: 'in_progress', arguments: '', call_id: 'c', name: 'exec_command' });
  });

  // [finish_reason, status, incomplete_details]
  const statuses: [unknown, string, unknown][] = [
    ['stop', 'completed', null],
    ['tool_calls', 'completed', null],
    ['function_call', 'completed', null],
    [null, 'completed', null],
    ['length', 'incomplete', { reason: 'max_output_tokens' }],
    ['content_filter', 'incomplete', { reason: 'content_filter' }],
  ];
  it.each(statuses)('finish_reason %s → status %s', (finish, status, details) => {
    expect(statusFor(finish)).toEqual({ status, incomplete_details: details });
    const r = answer(completion('x', [], finish as string));
    expect(r.status).toBe(status);
    expect(r.incomplete_details).toEqual(details);
  });

  it('maps usage: cached and reasoning tokens kept, total recomputed, details bounded, none when absent', () => {
    expect(responsesUsage(USAGE)).toEqual(RESPONSES_USAGE);
    expect(responsesUsage({ prompt_tokens: 10, completion_tokens: 3 })).toEqual({ input_tokens: 10, input_tokens_details: { cached_tokens: 0 }, output_tokens: 3, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 13 });
    expect(responsesUsage({ prompt_tokens: 10, completion_tokens: 3, total_tokens: 99, prompt_tokens_details: { cached_tokens: 50 }, completion_tokens_details: { reasoning_tokens: 7 } }))
      .toEqual({ input_tokens: 10, input_tokens_details: { cached_tokens: 10 }, output_tokens: 3, output_tokens_details: { reasoning_tokens: 3 }, total_tokens: 13 });
    expect(responsesUsage({ prompt_tokens: 10, completion_tokens: -4 })?.output_tokens).toBe(0);
    expect(responsesUsage(null)).toBeNull();
    expect(responsesUsage({ completion_tokens: 3 })).toBeNull();
    expect(answer(completion('x', [], 'stop', null)).usage).toBeNull();
  });

  it('reads choice 0 only', () => {
    const json = completion('zero') as unknown as Json & { choices: Json[] };
    json.choices = [{ index: 1, message: { role: 'assistant', content: 'one' }, finish_reason: 'length' }, ...json.choices];
    expect(answer(json).output).toEqual([expect.objectContaining({ content: [expect.objectContaining({ text: 'zero' })] })]);
  });

  it('answers an empty completion with no output', () => {
    expect(answer(completion(null)).output).toEqual([]);
  });

  it('gives null for JSON that is not a chat completion (passed through as it is)', () => {
    for (const json of [null, 'text', [], {}, { error: { message: 'x' } }, { choices: 'x' }]) expect(chatToResponse(json, ctxFor())).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------------------------

interface Event {
  event: string;
  data: Json;
}

/** Splits SSE text into events: `event: <type>\ndata: <one line of JSON>\n\n`, the type on both, JSON as JSON.stringify writes it. */
function parse(text: string): Event[] {
  if (text === '') return [];
  expect(text.endsWith('\n\n')).toBe(true);
  return text.slice(0, -2).split('\n\n').map((frame) => {
    const m = /^event: ([a-z_.]+)\ndata: (.+)$/.exec(frame);
    if (!m) throw new Error(`bad frame: ${JSON.stringify(frame)}`);
    const raw = m[2] as string;
    const data = JSON.parse(raw) as Json;
    expect(JSON.stringify(data)).toBe(raw); // no duplicate keys, the bytes JSON.stringify gives
    expect(data.type).toBe(m[1]);
    return { event: m[1] as string, data };
  });
}

const head = { id: 'chatcmpl-9', object: 'chat.completion.chunk', created: CREATED, model: 'upstream-model' } as const;
function chunk(delta: Json, finish: string | null = null): ChatCompletionChunk {
  return { ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] } as ChatCompletionChunk;
}
const role = chunk({ role: 'assistant', content: '' });
const text = (t: string): ChatCompletionChunk => chunk({ content: t });
const finish = (reason: string): ChatCompletionChunk => chunk({}, reason);
function call(index: number | null, args: string, header?: { id?: string; name?: string }): ChatCompletionChunk {
  const fn = header?.name !== undefined ? { name: header.name, arguments: args } : { arguments: args };
  return chunk({ tool_calls: [{ ...(index === null ? {} : { index }), ...(header?.id ? { id: header.id, type: 'function' } : {}), function: fn }] });
}
const usageChunk = (usage: unknown = USAGE): ChatCompletionChunk => ({ ...head, choices: [], usage }) as ChatCompletionChunk;

/** Pieces of `s`, `n` characters each. */
const pieces = (s: string, n: number): string[] => Array.from({ length: Math.ceil(s.length / n) }, (_, i) => s.slice(i * n, (i + 1) * n));

interface Run {
  events: Event[];
  types: string[];
  /** What onDone got, each call. */
  done: Json[];
  last: Json;
  /** The SDK accumulator's snapshot after the last event. */
  snapshot: Response;
}

/** Runs chunks through a stream then `end(endUsage)`, checks every event, folds them with the SDK. */
function run(chunks: readonly unknown[], endUsage: unknown = null, ctx = ctxFor({ model: 'gpt-5.5', input: 'Hi', tools: codexTools, stream: true })): Run {
  const done: Json[] = [];
  const s = new ResponsesStream(ctx, (r) => done.push(r));
  const text = chunks.map((c) => s.push(c)).join('') + s.end(endUsage);
  expect(s.end(endUsage)).toBe('');
  expect(s.push(text)).toBe('');
  const events = parse(text);
  const snapshot = check(events, ctx);
  return { events, types: events.map((e) => e.event), done, last: (events.at(-1) as Event).data, snapshot };
}

/**
 * Checks a whole event stream: `sequence_number` 0, 1, 2…; each event has the keys its SDK type
 * requires; created and in_progress first, one terminal event last; items added in output order,
 * once, and done once, with only their own events in between; each `.done` item agrees with what
 * its deltas built; and the SDK's own accumulator folds it into the terminal response's output.
 */
function check(events: Event[], ctx: ResponseContext): Response {
  let snapshot: Response | undefined;
  const state = new Map<number, 'open' | 'done'>();
  const terminal = ['response.completed', 'response.incomplete', 'response.failed'];
  expect(events.slice(0, 2).map((e) => e.event)).toEqual(['response.created', 'response.in_progress']);
  expect(terminal).toContain(events.at(-1)?.event);
  events.forEach(({ event, data }, i) => {
    expect(data.sequence_number).toBe(i);
    const keys = EVENT_KEYS[event as Emitted];
    expect(keys, event).toBeDefined();
    for (const k of keys) expect(data, `${event}.${k}`).toHaveProperty(k);
    if (i > 0 && i < events.length - 1) expect(terminal.concat('response.created')).not.toContain(event);
    if ('response' in data) {
      checkResponse(data.response, ctx);
      if (i < 2) expect(data.response).toMatchObject({ status: 'in_progress', output: [], usage: null, error: null });
    }
    const index = data.output_index as number;
    if (event === 'response.output_item.added') {
      expect(index).toBe(state.size);
      state.set(index, 'open');
      checkItem(data.item, 'in_progress');
    } else if (event === 'response.output_item.done') {
      expect(state.get(index)).toBe('open');
      state.set(index, 'done');
      const item = data.item as Json;
      const cut = events.at(-1)?.event === 'response.incomplete' && item.type === 'message';
      checkItem(data.item, cut ? 'incomplete' : 'completed');
      const built = snapshot?.output[index] as unknown as Json;
      expect(built.id).toBe(item.id);
      if (item.type === 'message') expect(((built.content as Json[])[0] as Json).text).toBe(((item.content as Json[])[0] as Json).text);
      if (item.type === 'function_call') expect(built.arguments).toBe(item.arguments);
      if (item.type === 'custom_tool_call') expect(built.input).toBe(item.input);
    } else if (typeof index === 'number') {
      expect(state.get(index), `${event} on item ${index}`).toBe('open');
      expect(data.item_id).toBe(snapshot?.output[index]?.id);
    }
    if (terminal.includes(event) && event !== 'response.failed') {
      expect([...state.values()].every((s) => s === 'done')).toBe(true);
      expect((data.response as Json).output).toEqual(JSON.parse(JSON.stringify(snapshot?.output)));
    }
    snapshot = accumulateResponse(data as unknown as ResponseStreamEvent, snapshot);
  });
  return snapshot as Response;
}

describe('ResponsesStream: text', () => {
  it('sends OpenAI\'s event sequence, every payload pinned', () => {
    const { events, done } = run([role, text('Hel'), text('lo'), finish('stop'), usageChunk()]);
    const id = itemId('msg', RID, 0);
    const part = (t: string) => ({ type: 'output_text', text: t, annotations: [], logprobs: [] });
    const item = { id, type: 'message', status: 'completed', role: 'assistant', content: [part('Hello')] };
    const at = { item_id: id, output_index: 0, content_index: 0 };
    expect(events.map((e) => e.data)).toEqual([
      { type: 'response.created', sequence_number: 0, response: expect.objectContaining({ status: 'in_progress', output: [], usage: null }) },
      { type: 'response.in_progress', sequence_number: 1, response: expect.objectContaining({ status: 'in_progress', output: [], usage: null }) },
      { type: 'response.output_item.added', sequence_number: 2, output_index: 0, item: { id, type: 'message', status: 'in_progress', role: 'assistant', content: [] } },
      { type: 'response.content_part.added', sequence_number: 3, ...at, part: part('') },
      { type: 'response.output_text.delta', sequence_number: 4, ...at, delta: 'Hel', logprobs: [] },
      { type: 'response.output_text.delta', sequence_number: 5, ...at, delta: 'lo', logprobs: [] },
      { type: 'response.output_text.done', sequence_number: 6, ...at, text: 'Hello', logprobs: [] },
      { type: 'response.content_part.done', sequence_number: 7, ...at, part: part('Hello') },
      { type: 'response.output_item.done', sequence_number: 8, output_index: 0, item },
      { type: 'response.completed', sequence_number: 9, response: expect.objectContaining({ status: 'completed', output: [item], usage: RESPONSES_USAGE }) },
    ]);
    expect(done).toEqual([(events[9] as Event).data.response]);
  });

  it('writes the whole response in the terminal event as the response object is (the same bytes)', () => {
    const ctx = ctxFor({ model: 'gpt-5.5', input: 'Hi', tools: codexTools, stream: true, metadata: { a: 'é"' } });
    const done: Json[] = [];
    const s = new ResponsesStream(ctx, (r) => done.push(r));
    const out = s.push(text('Hi')) + s.end(USAGE);
    const frames = out.slice(0, -2).split('\n\n');
    expect(frames.at(-1)).toBe(`event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', sequence_number: frames.length - 1, response: done[0] })}`);
    const created = JSON.parse((frames[0] as string).split('\ndata: ')[1] as string) as Json;
    expect(created.response).toEqual({ ...done[0], status: 'in_progress', output: [], usage: null });
  });

  it('numbers the events 0, 1, 2… across pushes', () => {
    const ctx = ctxFor();
    const s = new ResponsesStream(ctx, null);
    const all: Event[] = [];
    for (const c of [role, text('a'), text('b'), call(0, '{}', { id: 'c', name: 'exec_command' }), text('c'), finish('stop')]) all.push(...parse(s.push(c)));
    all.push(...parse(s.end(null)));
    expect(all.map((e) => e.data.sequence_number)).toEqual(all.map((_, i) => i));
  });

  it('treats pushText as a chunk of text, and refusals as text', () => {
    const ctx = ctxFor();
    const a = new ResponsesStream(ctx, null);
    const b = new ResponsesStream(ctx, null);
    expect(a.pushText('Hi') + a.pushText('') + a.end(null)).toBe(b.push(text('Hi')) + b.push(text('')) + b.end(null));
    const r = run([chunk({ role: 'assistant', content: null, refusal: '' }), chunk({ refusal: 'No.' }), finish('stop')]);
    expect(r.last.response).toMatchObject({ output: [{ type: 'message', content: [{ text: 'No.' }] }] });
    expect(r.snapshot.output_text).toBe('No.');
  });

  it('reads choice 0 only, and ignores what is not a chunk', () => {
    const other = { ...head, choices: [{ index: 1, delta: { content: 'other' }, finish_reason: 'length' }] };
    const r = run([text('mine'), other, 'garbage', null, [], finish('stop')]);
    expect(r.snapshot.output_text).toBe('mine');
    expect(r.snapshot.status).toBe('completed');
  });

  it('ends an empty answer with an empty output', () => {
    const r = run([role, finish('stop')]);
    expect(r.types).toEqual(['response.created', 'response.in_progress', 'response.completed']);
    expect(r.snapshot.output).toEqual([]);
  });
});

describe('ResponsesStream: tool calls', () => {
  it('closes the text item before a call\'s output_item.added', () => {
    const r = run([role, text('Running it.'), call(0, '', { id: 'call_1', name: 'exec_command' }), call(0, '{"cmd":'), call(0, '"ls"}'), finish('tool_calls'), usageChunk()]);
    const fc = itemId('fc', RID, 1);
    expect(r.types).toEqual([
      'response.created', 'response.in_progress',
      'response.output_item.added', 'response.content_part.added', 'response.output_text.delta',
      'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
      'response.output_item.added', 'response.function_call_arguments.delta', 'response.function_call_arguments.delta',
      'response.function_call_arguments.done', 'response.output_item.done',
      'response.completed',
    ]);
    expect(r.events[8]?.data).toEqual({ type: 'response.output_item.added', sequence_number: 8, output_index: 1, item: { id: fc, type: 'function_call', status: 'in_progress', arguments: '', call_id: 'call_1', name: 'exec_command' } });
    expect(r.events[9]?.data).toEqual({ type: 'response.function_call_arguments.delta', sequence_number: 9, item_id: fc, output_index: 1, delta: '{"cmd":' });
    expect(r.events[11]?.data).toEqual({ type: 'response.function_call_arguments.done', sequence_number: 11, item_id: fc, output_index: 1, name: 'exec_command', arguments: '{"cmd":"ls"}' });
    expect(r.events[12]?.data.item).toEqual({ id: fc, type: 'function_call', status: 'completed', arguments: '{"cmd":"ls"}', call_id: 'call_1', name: 'exec_command' });
    expect(r.done).toHaveLength(1);
  });

  it('opens a new message item for text after the calls, and closes items in output order', () => {
    const r = run([text('Before.'), call(0, '{}', { id: 'call_1', name: 'exec_command' }), text('After.'), finish('tool_calls')]);
    expect(r.snapshot.output.map((i) => [i.type, i.id])).toEqual([['message', itemId('msg', RID, 0)], ['function_call', itemId('fc', RID, 1)], ['message', itemId('msg', RID, 2)]]);
    expect(r.events.filter((e) => e.event === 'response.output_item.done').map((e) => e.data.output_index)).toEqual([0, 1, 2]);
    expect(r.snapshot.output_text).toBe('Before.After.');
  });

  it('follows interleaved parallel calls by index: each gets its own arguments', () => {
    const r = run([
      role,
      call(0, '', { id: 'call_a', name: 'exec_command' }),
      call(1, '', { id: 'call_b', name: 'exec_command' }),
      call(0, '{"cmd":'), call(1, '{"cmd":'), call(0, '"ls"}'), call(1, '"pwd"}'),
      finish('tool_calls'),
    ]);
    expect(r.snapshot.output).toEqual([
      { id: itemId('fc', RID, 0), type: 'function_call', status: 'completed', arguments: '{"cmd":"ls"}', call_id: 'call_a', name: 'exec_command' },
      { id: itemId('fc', RID, 1), type: 'function_call', status: 'completed', arguments: '{"cmd":"pwd"}', call_id: 'call_b', name: 'exec_command' },
    ]);
    const deltas = r.events.filter((e) => e.event === 'response.function_call_arguments.delta').map((e) => [e.data.output_index, e.data.delta]);
    expect(deltas).toEqual([[0, '{"cmd":'], [1, '{"cmd":'], [0, '"ls"}'], [1, '"pwd"}']]);
  });

  it('keeps parallel calls apart when the upstream numbers each of them 0 (new id, new call)', () => {
    const r = run([
      role,
      call(0, '', { id: 'call_a', name: 'exec_command' }), call(0, '{"cmd":"ls"}'),
      call(0, '', { id: 'call_b', name: 'exec_command' }), call(0, '{"cmd":"pwd"}'),
      finish('tool_calls'),
    ]);
    expect(r.snapshot.output.map((o) => (o.type === 'function_call' ? [o.call_id, o.arguments] : o.type))).toEqual([['call_a', '{"cmd":"ls"}'], ['call_b', '{"cmd":"pwd"}']]);
  });

  it('streams a custom tool call (apply_patch) as its unwrapped input, sent whole at the end', () => {
    const args = JSON.stringify({ input: PATCH });
    const r = run([role, call(0, '', { id: 'call_p', name: 'apply_patch' }), ...pieces(args, 7).map((p) => call(0, p)), finish('tool_calls')]);
    const id = itemId('ctc', RID, 0);
    expect(r.types).toEqual([
      'response.created', 'response.in_progress', 'response.output_item.added',
      'response.custom_tool_call_input.delta', 'response.custom_tool_call_input.done', 'response.output_item.done',
      'response.completed',
    ]);
    expect(r.events.slice(2, 6).map((e) => e.data)).toEqual([
      { type: 'response.output_item.added', sequence_number: 2, output_index: 0, item: { id, type: 'custom_tool_call', status: 'in_progress', call_id: 'call_p', name: 'apply_patch', input: '' } },
      { type: 'response.custom_tool_call_input.delta', sequence_number: 3, item_id: id, output_index: 0, delta: PATCH },
      { type: 'response.custom_tool_call_input.done', sequence_number: 4, item_id: id, output_index: 0, input: PATCH },
      { type: 'response.output_item.done', sequence_number: 5, output_index: 0, item: { id, type: 'custom_tool_call', status: 'completed', call_id: 'call_p', name: 'apply_patch', input: PATCH } },
    ]);
    expect(r.types).not.toContain('response.function_call_arguments.delta');
  });

  it('answers a namespaced call with its name and namespace', () => {
    const r = run([call(0, '{"message":"go"}', { id: 'call_n', name: 'multi_agent_v1__spawn_agent' }), finish('tool_calls')]);
    expect(r.snapshot.output).toEqual([{ id: itemId('fc', RID, 0), type: 'function_call', status: 'completed', arguments: '{"message":"go"}', call_id: 'call_n', name: 'spawn_agent', namespace: 'multi_agent_v1' }]);
    expect(r.events.find((e) => e.event === 'response.function_call_arguments.done')?.data.name).toBe('spawn_agent');
  });

  it('follows calls an upstream identifies only by id (no index), and id-less pieces as the last call\'s', () => {
    const r = run([
      call(null, '{"cmd":', { id: 'call_a', name: 'exec_command' }),
      call(null, '"ls"}'),
      call(null, '{"cmd":', { id: 'call_b', name: 'exec_command' }),
      call(null, '"pwd"', { id: 'call_b' }),
      call(null, '}'),
      finish('tool_calls'),
    ]);
    expect(r.snapshot.output.map((i) => [(i as ResponseFunctionToolCall).call_id, (i as ResponseFunctionToolCall).arguments])).toEqual([['call_a', '{"cmd":"ls"}'], ['call_b', '{"cmd":"pwd"}']]);
  });

  it('makes up the ids of calls the upstream sent without one', () => {
    const r = run([text('x'), call(0, '{}', { name: 'exec_command' }), finish('tool_calls')]);
    expect((r.snapshot.output[1] as ResponseFunctionToolCall).call_id).toBe(`call_${HEX}_1`);
  });

  it(`opens at most MAX_STREAM_TOOL_CALLS (${MAX_STREAM_TOOL_CALLS}) calls; pieces of the ignored ones go nowhere`, () => {
    const s = new ResponsesStream(ctxFor(), null);
    let out = '';
    for (let i = 0; i < MAX_STREAM_TOOL_CALLS + 3; i++) out += s.push(call(i, '{}', { id: `call_${i}`, name: 'exec_command' }));
    out += s.push(call(null, 'garbage')) + s.push(call(MAX_STREAM_TOOL_CALLS + 1, 'more'));
    out += s.end(null);
    const response = (parse(out).at(-1) as Event).data.response as Json;
    const output = response.output as ResponseFunctionToolCall[];
    expect(output).toHaveLength(MAX_STREAM_TOOL_CALLS);
    expect(output.at(-1)).toMatchObject({ call_id: `call_${MAX_STREAM_TOOL_CALLS - 1}`, arguments: '{}' });
    expect(output.every((c) => c.arguments === '{}')).toBe(true);
  });
});

describe('ResponsesStream: the end', () => {
  it('takes the usage the chunks carried when end() has none', () => {
    expect(run([text('x'), finish('stop'), usageChunk()], null).last.response).toMatchObject({ usage: RESPONSES_USAGE });
  });

  it('takes the estimate end() is given when no chunk carried usage', () => {
    expect(run([text('x'), finish('stop')], { prompt_tokens: 12, completion_tokens: 3 }).last.response).toMatchObject({
      usage: { input_tokens: 12, input_tokens_details: { cached_tokens: 0 }, output_tokens: 3, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15 },
    });
  });

  it('has usage null when there is none at all', () => {
    expect(run([text('x'), finish('stop')]).last.response).toMatchObject({ usage: null });
  });

  it('ends a stream cut by length with response.incomplete (max_output_tokens)', () => {
    const r = run([text('Once upon a'), finish('length'), usageChunk()]);
    expect(r.types.at(-1)).toBe('response.incomplete');
    expect(r.last.response).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, usage: RESPONSES_USAGE });
    expect(r.done).toEqual([r.last.response]);
  });

  it('ends a filtered stream with response.incomplete (content_filter)', () => {
    expect(run([text('x'), finish('content_filter')]).last.response).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'content_filter' } });
  });

  it('fails before any chunk with created, in_progress, failed; nothing after; onDone never called', () => {
    const ctx = ctxFor();
    const onDone = vi.fn();
    const s = new ResponsesStream(ctx, onDone);
    const events = parse(s.error('upstream went away'));
    check(events, ctx);
    expect(events.map((e) => e.event)).toEqual(['response.created', 'response.in_progress', 'response.failed']);
    expect(events[2]?.data.response).toMatchObject({ status: 'failed', error: { code: 'server_error', message: 'upstream went away' }, output: [], usage: null, incomplete_details: null });
    expect(s.push(text('late'))).toBe('');
    expect(s.pushText('late')).toBe('');
    expect(s.end(null)).toBe('');
    expect(s.error('again')).toBe('');
    expect(onDone).not.toHaveBeenCalled();
  });

  it('fails mid-stream with the items closed so far and the usage seen', () => {
    const ctx = ctxFor();
    const onDone = vi.fn();
    const s = new ResponsesStream(ctx, onDone);
    const out = s.push(text('Partial')) + s.push(call(0, '{"cmd"', { id: 'c', name: 'exec_command' })) + s.push(usageChunk()) + s.error('reset');
    const events = parse(out);
    check(events, ctx);
    expect(events.at(-1)?.data.response).toMatchObject({ status: 'failed', output: [{ type: 'message', status: 'completed' }], usage: RESPONSES_USAGE });
    expect(onDone).not.toHaveBeenCalled();
  });

  it('calls onDone exactly once, with the final response; end() after end() or error() is nothing', () => {
    const ctx = ctxFor();
    const onDone = vi.fn();
    const s = new ResponsesStream(ctx, onDone);
    const out = s.push(text('Hi')) + s.end(null);
    expect(s.end(null)).toBe('');
    expect(s.error('late')).toBe('');
    expect(onDone).toHaveBeenCalledTimes(1);
    expect(onDone.mock.calls[0]?.[0]).toEqual((parse(out).at(-1) as Event).data.response);
  });

  it('runs without onDone', () => {
    const s = new ResponsesStream(ctxFor());
    expect(parse(s.push(text('Hi')) + s.end(null)).at(-1)?.event).toBe('response.completed');
  });
});

describe('ResponsesStream ⇄ chatToResponse: a stream ends with what the same answer as JSON gives', () => {
  /** The chunks an upstream streams for this completion: text in pieces, each call's header then its arguments in pieces. */
  function chunksOf(json: ChatCompletion): unknown[] {
    const choice = json.choices[0] as ChatCompletion.Choice;
    const m = choice.message;
    const out: unknown[] = [role];
    for (const p of pieces(m.content ?? '', 4)) out.push(text(p));
    (m.tool_calls ?? []).forEach((c, i) => {
      if (c.type !== 'function') return;
      out.push(call(i, '', { ...(c.id ? { id: c.id } : {}), name: c.function.name }));
      for (const p of pieces(c.function.arguments, 5)) out.push(call(i, p));
    });
    out.push(finish(choice.finish_reason), usageChunk(json.usage));
    return out;
  }

  const cases: [string, ChatCompletion][] = [
    ['text', completion('Hello there, how are you?')],
    ['text and every kind of call', completion('Let me look.', [
      { id: 'call_1', name: 'exec_command', arguments: '{"cmd":"ls -la"}' },
      { id: 'call_2', name: 'apply_patch', arguments: JSON.stringify({ input: PATCH }) },
      { id: 'call_3', name: 'multi_agent_v1__spawn_agent', arguments: '{"message":"go"}' },
    ])],
    ['calls without ids', completion(null, [{ name: 'exec_command', arguments: '{"cmd":"pwd"}' }, { name: 'apply_patch', arguments: '{"input":"x"}' }])],
    ['text and a call without id', completion('First:', [{ name: 'exec_command', arguments: '{}' }])],
    ['cut by length', completion('Once upon a', [], 'length')],
  ];
  it.each(cases)('%s', (_what, json) => {
    const ctx = ctxFor();
    const r = run(chunksOf(json), null, ctx);
    const whole = chatToResponse(json, ctx);
    expect(r.done).toEqual([whole]);
    expect(r.last.response).toEqual(whole);
    expect(r.snapshot).toEqual({ ...whole, output_text: expect.any(String) });
  });
});

// ---------------------------------------------------------------------------------------------
// The format object the routes use, one per request
// ---------------------------------------------------------------------------------------------

describe('responsesFormat', () => {
  const ids = { model: MODEL, id: RID };

  it('parses to the chat body and what routing needs, or to the refusal with its param', () => {
    const f = responsesFormat();
    expect(f.parse({ input: 'x' })).toEqual({ ok: false, message: expect.any(String), param: 'model' });
    expect(f.request()).toBeNull();
    const g = responsesFormat();
    expect(g.parse({ model: 'gpt-5.5', input: 'x', stream: true, reasoning: { effort: 'low' }, tools: [webSearch, execCommand] })).toEqual({
      ok: true, body: g.request()?.chat, model: 'gpt-5.5', stream: true, clientWantsUsage: false, reasoningEffort: 'low', dropped: ['web_search'],
    });
  });

  it('answers JSON as a response and hands over the response and its whole conversation once', () => {
    const history: Json[] = [{ type: 'message', role: 'user', content: 'before' }];
    const onFinished = vi.fn<(r: FinishedResponse) => void>();
    const f = responsesFormat({ history, onFinished, now: () => CREATED });
    expect(() => f.answer(completion('x'), ids)).toThrow();
    expect(f.parse({ model: MODEL, input: 'Hi', previous_response_id: 'resp_prev' }).ok).toBe(true);
    const response = f.answer(completion('Hello'), ids) as Json;
    expect(response).toMatchObject({ id: RID, model: MODEL, created_at: CREATED, status: 'completed', previous_response_id: 'resp_prev' });
    expect(onFinished).toHaveBeenCalledTimes(1);
    expect(onFinished.mock.calls[0]?.[0]).toEqual({
      response,
      conversation: [...history, { type: 'message', role: 'user', content: 'Hi' }, ...(response.output as Json[])],
      request: f.request(),
    });
    expect(f.answer({ error: { message: 'x' } }, ids)).toBeNull();
    expect(onFinished).toHaveBeenCalledTimes(1);
  });

  it('streams, handing over the finished response once (never a failed one)', () => {
    const onFinished = vi.fn<(r: FinishedResponse) => void>();
    const f = responsesFormat({ onFinished, now: () => CREATED });
    expect(f.parse({ model: MODEL, input: 'Hi', stream: true }).ok).toBe(true);
    const s = f.stream(ids) as ResponsesStream;
    const out = s.push(text('Hello')) + s.end(null);
    expect(onFinished).toHaveBeenCalledTimes(1);
    expect(onFinished.mock.calls[0]?.[0].response).toEqual((parse(out).at(-1) as Event).data.response);
    const failing = f.stream(ids) as ResponsesStream;
    failing.push(text('Hel'));
    failing.error('reset');
    expect(onFinished).toHaveBeenCalledTimes(1);
  });

  it('makes response ids of resp_ and 32 hex digits', () => {
    expect(newResponseId()).toMatch(/^resp_[0-9a-f]{32}$/);
    expect(newResponseId()).not.toBe(newResponseId());
  });
});

describe('a stored conversation', () => {
  it('skips items of types chat has no counterpart for (a native provider\'s output), while the same in the input is refused', () => {
    const history = [user('first'), { type: 'some_future_call', id: 'x_1' }, { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'ok', annotations: [] }] }];
    expect(parsed({ model: MODEL, input: [user('second')] }, history).chat.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'first' }] },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: [{ type: 'text', text: 'second' }] },
    ]);
    expect(refusal({ model: MODEL, input: [{ type: 'some_future_call', id: 'x_1' }] }).param).toBe('input[0].type');
  });
});
