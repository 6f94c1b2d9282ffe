import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import { describe, expect, it } from 'vitest';
import {
  ANTHROPIC_LIMITS,
  anthropicCountTokensText,
  anthropicError,
  anthropicToChat,
  chatToAnthropic,
  COUNT_TEXT_MAX_CHARS,
  TOOL_ERROR_PREFIX,
  TOOL_RESULT_IMAGE,
} from '../../src/protocols/anthropic.js';

type Json = Record<string, unknown>;

const hi = { role: 'user', content: 'Hi' };
const base = { model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [hi] };

function chatOf(body: unknown, opts: { reasoningEffort?: boolean } = {}): Json {
  const r = anthropicToChat(body, opts);
  if (!r.ok) throw new Error(`refused: ${r.message} (${r.param})`);
  return r.chat;
}

/** The chat messages for these Anthropic messages (no system). */
function messagesOf(messages: unknown[]): unknown {
  return chatOf({ ...base, messages }).messages;
}

describe('anthropicToChat: top-level fields', () => {
  it('maps a minimal request and reports model, stream and session', () => {
    expect(anthropicToChat(base)).toEqual({
      ok: true,
      chat: { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1024 },
      model: 'claude-sonnet-4-5',
      stream: false,
      sessionId: null,
    });
  });

  // [field, Anthropic request fields, chat fields besides model/messages/max_tokens]
  const table: [string, Json, Json][] = [
    ['temperature', { temperature: 0.7 }, { temperature: 0.7 }],
    ['temperature 0', { temperature: 0 }, { temperature: 0 }],
    ['top_p', { top_p: 0.9 }, { top_p: 0.9 }],
    ['top_k (chat has none)', { top_k: 40 }, {}],
    ['stop_sequences → stop', { stop_sequences: ['END', '###'] }, { stop: ['END', '###'] }],
    ['empty stop_sequences', { stop_sequences: [] }, {}],
    ['stream: true', { stream: true }, { stream: true, stream_options: { include_usage: true } }],
    ['stream: false', { stream: false }, {}],
    ['metadata.user_id → user', { metadata: { user_id: 'user-42' } }, { user: 'user-42' }],
    ['metadata without user_id', { metadata: {} }, {}],
    ['metadata.user_id null', { metadata: { user_id: null } }, {}],
    ['thinking enabled 1024 → low', { thinking: { type: 'enabled', budget_tokens: 1024 } }, { reasoning_effort: 'low' }],
    ['thinking enabled 4095 → low', { thinking: { type: 'enabled', budget_tokens: 4095 } }, { reasoning_effort: 'low' }],
    ['thinking enabled 4096 → medium', { thinking: { type: 'enabled', budget_tokens: 4096 } }, { reasoning_effort: 'medium' }],
    ['thinking enabled 16383 → medium', { thinking: { type: 'enabled', budget_tokens: 16_383 } }, { reasoning_effort: 'medium' }],
    ['thinking enabled 16384 → high', { thinking: { type: 'enabled', budget_tokens: 16_384 } }, { reasoning_effort: 'high' }],
    ['thinking adaptive → medium', { thinking: { type: 'adaptive' } }, { reasoning_effort: 'medium' }],
    ['thinking disabled', { thinking: { type: 'disabled' } }, {}],
    // Anthropic-only fields, never copied:
    ['output_config', { output_config: { effort: 'high', format: { type: 'json_schema', schema: {} } } }, {}],
    ['context_management', { context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] } }, {}],
    ['service_tier', { service_tier: 'auto' }, {}],
    ['container', { container: 'container_123' }, {}],
    ['mcp_servers', { mcp_servers: [{ type: 'url', url: 'https://mcp.example', name: 'x' }] }, {}],
    ['an unknown field', { frobnicate: true, max_completion_tokens: 5 }, {}],
  ];
  it.each(table)('%s', (_name, fields, chatFields) => {
    expect(chatOf({ ...base, ...fields })).toEqual({ model: base.model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1024, ...chatFields });
  });

  it('uses max_tokens, never max_completion_tokens', () => {
    const chat = chatOf({ ...base, max_tokens: 64_000 });
    expect(chat.max_tokens).toBe(64_000);
    expect(chat).not.toHaveProperty('max_completion_tokens');
  });

  it('leaves reasoning_effort out when the caller says the upstream takes none', () => {
    expect(chatOf({ ...base, thinking: { type: 'adaptive' } }, { reasoningEffort: false })).not.toHaveProperty('reasoning_effort');
    expect(chatOf({ ...base, thinking: { type: 'enabled', budget_tokens: 20_000 } }, { reasoningEffort: false })).not.toHaveProperty('reasoning_effort');
  });

  it('reports stream: true to the caller', () => {
    const r = anthropicToChat({ ...base, stream: true });
    expect(r.ok && r.stream).toBe(true);
  });
});

describe('anthropicToChat: system', () => {
  const table: [string, unknown, unknown[]][] = [
    ['a string', 'Be brief.', [{ role: 'system', content: 'Be brief.' }]],
    [
      'text blocks, cache_control dropped, joined by a blank line',
      [
        { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1' },
        { type: 'text', text: 'You are a Claude agent.', cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'Long prompt', cache_control: { type: 'ephemeral', ttl: '1h' } },
      ],
      [{ role: 'system', content: 'x-anthropic-billing-header: cc_version=2.1\n\nYou are a Claude agent.\n\nLong prompt' }],
    ],
    ['an empty string', '', []],
    ['an empty array', [], []],
  ];
  it.each(table)('%s', (_name, system, lead) => {
    expect(chatOf({ ...base, system }).messages).toEqual([...lead, { role: 'user', content: 'Hi' }]);
  });

  it('keeps a system-role message inside messages where it stands (as Claude Code sends it)', () => {
    expect(
      messagesOf([
        { role: 'user', content: [{ type: 'text', text: '<system-reminder>date</system-reminder>' }, { type: 'text', text: 'Do it', cache_control: { type: 'ephemeral' } }] },
        { role: 'system', content: 'Available agent types…' },
        { role: 'system', content: [{ type: 'text', text: 'skills' }] },
        { role: 'user', content: 'go' },
      ]),
    ).toEqual([
      { role: 'user', content: '<system-reminder>date</system-reminder>\n\nDo it' },
      { role: 'system', content: 'Available agent types…' },
      { role: 'system', content: 'skills' },
      { role: 'user', content: 'go' },
    ]);
  });
});

describe('anthropicToChat: message content', () => {
  const png = { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' };
  const table: [string, unknown[], unknown[]][] = [
    ['user string', [{ role: 'user', content: 'Hello' }], [{ role: 'user', content: 'Hello' }]],
    ['user text block', [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }], [{ role: 'user', content: 'Hello' }]],
    [
      'image, base64 source → data URL',
      [{ role: 'user', content: [{ type: 'image', source: png }, { type: 'text', text: 'What is this?' }] }],
      [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }, { type: 'text', text: 'What is this?' }] }],
    ],
    [
      'image, url source',
      [{ role: 'user', content: [{ type: 'text', text: 'Describe' }, { type: 'image', source: { type: 'url', url: 'https://img.example/cat.jpg' } }] }],
      [{ role: 'user', content: [{ type: 'text', text: 'Describe' }, { type: 'image_url', image_url: { url: 'https://img.example/cat.jpg' } }] }],
    ],
    [
      'image, Files API source: dropped',
      [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'file_1' } }, { type: 'text', text: 'Hm' }] }],
      [{ role: 'user', content: 'Hm' }],
    ],
    [
      'document, text source → text',
      [{ role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'Doc body' } }, { type: 'text', text: 'Summarize' }] }],
      [{ role: 'user', content: 'Doc body\n\nSummarize' }],
    ],
    [
      'document, content source → its text',
      [{ role: 'user', content: [{ type: 'document', source: { type: 'content', content: [{ type: 'text', text: 'A' }, { type: 'text', text: 'B' }] } }] }],
      [{ role: 'user', content: 'A\n\nB' }],
    ],
    [
      'document, PDF: dropped',
      [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } }, { type: 'text', text: 'Read' }] }],
      [{ role: 'user', content: 'Read' }],
    ],
    [
      'assistant text and tool_use → content and tool_calls',
      [
        { role: 'user', content: 'Weather?' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' }, cache_control: { type: 'ephemeral' } },
          ],
        },
      ],
      [
        { role: 'user', content: 'Weather?' },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [{ id: 'toolu_01', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
      ],
    ],
    [
      'assistant tool_use only → content null',
      [{ role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'Bash', input: {} }] }],
      [{ role: 'assistant', content: null, tool_calls: [{ id: 't1', type: 'function', function: { name: 'Bash', arguments: '{}' } }] }],
    ],
    [
      'assistant thinking dropped, text kept',
      [{ role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }, { type: 'text', text: 'Done.' }] }],
      [{ role: 'assistant', content: 'Done.' }],
    ],
    [
      'assistant with only redacted_thinking: no message',
      [{ role: 'user', content: 'a' }, { role: 'assistant', content: [{ type: 'redacted_thinking', data: 'xyz' }] }],
      [{ role: 'user', content: 'a' }],
    ],
    ['assistant string', [{ role: 'assistant', content: 'Sure' }], [{ role: 'assistant', content: 'Sure' }]],
    [
      'tool_result with string content → tool message',
      [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'probe-ok', is_error: false, cache_control: { type: 'ephemeral' } }] }],
      [{ role: 'tool', tool_call_id: 't1', content: 'probe-ok' }],
    ],
    [
      'tool_result with block content: text joined by newlines, image as a placeholder',
      [
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 't1',
              content: [{ type: 'text', text: 'line 1' }, { type: 'image', source: png }, { type: 'text', text: 'line 2' }],
            },
          ],
        },
      ],
      [{ role: 'tool', tool_call_id: 't1', content: `line 1\n${TOOL_RESULT_IMAGE}\nline 2` }],
    ],
    [
      'tool_result with is_error → prefixed',
      [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'command not found', is_error: true }] }],
      [{ role: 'tool', tool_call_id: 't1', content: `${TOOL_ERROR_PREFIX}command not found` }],
    ],
    [
      'tool_result without content',
      [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1' }] }],
      [{ role: 'tool', tool_call_id: 't1', content: '' }],
    ],
    [
      'tool_results go before the rest of their user message, one tool message each',
      [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Both done; now continue.' },
            { type: 'tool_result', tool_use_id: 'a', content: [{ type: 'text', text: 'A' }] },
            { type: 'tool_result', tool_use_id: 'b', content: 'B' },
          ],
        },
      ],
      [
        { role: 'tool', tool_call_id: 'a', content: 'A' },
        { role: 'tool', tool_call_id: 'b', content: 'B' },
        { role: 'user', content: 'Both done; now continue.' },
      ],
    ],
    [
      'blocks chat has no equivalent for: dropped',
      [{ role: 'user', content: [{ type: 'search_result', source: 's', title: 't', content: [] }, { type: 'text', text: 'q' }] }],
      [{ role: 'user', content: 'q' }],
    ],
  ];
  it.each(table)('%s', (_name, messages, expected) => {
    expect(messagesOf(messages)).toEqual(expected);
  });

  it('translates a Claude Code tool turn end to end', () => {
    const r = anthropicToChat({
      model: 'claude-opus-4-8',
      max_tokens: 32_000,
      stream: true,
      system: [
        { type: 'text', text: 'billing' },
        { type: 'text', text: 'agent', cache_control: { type: 'ephemeral' } },
      ],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'run echo' }] },
        { role: 'system', content: 'Available agent types' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'echo probe-ok' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'probe-ok', is_error: false, cache_control: { type: 'ephemeral' } }] },
      ],
      tools: [
        {
          name: 'Bash',
          description: 'Run a command',
          input_schema: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
        },
      ],
      metadata: { user_id: JSON.stringify({ device_id: 'd'.repeat(64), account_uuid: '', session_id: '5b0c1f3e-2a4d-4c6b-9e8f-0a1b2c3d4e5f' }) },
      thinking: { type: 'adaptive' },
      output_config: { effort: 'high' },
      context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
    });
    expect(r).toEqual({
      ok: true,
      model: 'claude-opus-4-8',
      stream: true,
      sessionId: '5b0c1f3e-2a4d-4c6b-9e8f-0a1b2c3d4e5f',
      chat: {
        model: 'claude-opus-4-8',
        max_tokens: 32_000,
        messages: [
          { role: 'system', content: 'billing\n\nagent' },
          { role: 'user', content: 'run echo' },
          { role: 'system', content: 'Available agent types' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'Bash', arguments: '{"command":"echo probe-ok"}' } }] },
          { role: 'tool', tool_call_id: 'toolu_1', content: 'probe-ok' },
        ],
        tools: [
          {
            type: 'function',
            function: { name: 'Bash', description: 'Run a command', parameters: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] } },
          },
        ],
        user: `{"device_id":"${'d'.repeat(64)}`.slice(0, 64),
        reasoning_effort: 'medium',
        stream: true,
        stream_options: { include_usage: true },
      },
    });
  });
});

describe('anthropicToChat: tools and tool_choice', () => {
  const bash = { name: 'Bash', description: 'Run', input_schema: { type: 'object', properties: {} } };
  const chatBash = { type: 'function', function: { name: 'Bash', description: 'Run', parameters: { type: 'object', properties: {} } } };

  const toolTable: [string, unknown[], unknown[] | undefined][] = [
    ['a custom tool', [bash], [chatBash]],
    ['type: custom, cache_control ignored', [{ ...bash, type: 'custom', cache_control: { type: 'ephemeral' } }], [chatBash]],
    [
      'no description; top-level $schema dropped, nested kept',
      [{ name: 'Read', input_schema: { $schema: 'x', type: 'object', properties: { p: { $schema: 'y', type: 'string' } } } }],
      [{ type: 'function', function: { name: 'Read', parameters: { type: 'object', properties: { p: { $schema: 'y', type: 'string' } } } } }],
    ],
    [
      'server tools dropped',
      [{ type: 'web_search_20250305', name: 'web_search', max_uses: 5 }, bash, { type: 'bash_20250124', name: 'bash' }, { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool' }],
      [chatBash],
    ],
    ['only server tools: no tools at all', [{ type: 'web_search_20250305', name: 'web_search' }], undefined],
    ['an empty list: no tools', [], undefined],
  ];
  it.each(toolTable)('%s', (_name, tools, expected) => {
    const chat = chatOf({ ...base, tools });
    if (expected === undefined) expect(chat).not.toHaveProperty('tools');
    else expect(chat.tools).toEqual(expected);
  });

  const choiceTable: [string, Json, Json][] = [
    ['auto', { type: 'auto' }, { tool_choice: 'auto' }],
    ['any → required', { type: 'any' }, { tool_choice: 'required' }],
    ['tool → named function', { type: 'tool', name: 'Bash' }, { tool_choice: { type: 'function', function: { name: 'Bash' } } }],
    ['none', { type: 'none' }, { tool_choice: 'none' }],
    ['auto, parallel use disabled', { type: 'auto', disable_parallel_tool_use: true }, { tool_choice: 'auto', parallel_tool_calls: false }],
    ['any, parallel use disabled', { type: 'any', disable_parallel_tool_use: true }, { tool_choice: 'required', parallel_tool_calls: false }],
    [
      'tool, parallel use disabled',
      { type: 'tool', name: 'Bash', disable_parallel_tool_use: true },
      { tool_choice: { type: 'function', function: { name: 'Bash' } }, parallel_tool_calls: false },
    ],
    ['parallel use explicitly allowed', { type: 'auto', disable_parallel_tool_use: false }, { tool_choice: 'auto' }],
  ];
  it.each(choiceTable)('tool_choice %s', (_name, toolChoice, chatFields) => {
    expect(chatOf({ ...base, tools: [bash], tool_choice: toolChoice })).toEqual({
      model: base.model,
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 1024,
      tools: [chatBash],
      ...chatFields,
    });
  });

  it('sends no tool_choice when no chat tool is left', () => {
    const chat = chatOf({ ...base, tools: [{ type: 'web_search_20250305', name: 'web_search' }], tool_choice: { type: 'any', disable_parallel_tool_use: true } });
    expect(chat).not.toHaveProperty('tools');
    expect(chat).not.toHaveProperty('tool_choice');
    expect(chat).not.toHaveProperty('parallel_tool_calls');
  });
});

describe('anthropicToChat: metadata.user_id and the session id', () => {
  const claudeCode = JSON.stringify({ device_id: 'a'.repeat(64), account_uuid: '', session_id: '0f9e8d7c-6b5a-4321-8765-43210fedcba9' });
  const table: [string, unknown, string | null, string | null][] = [
    ['Claude Code JSON string', claudeCode, claudeCode.slice(0, 64), '0f9e8d7c-6b5a-4321-8765-43210fedcba9'],
    ['an opaque id', 'user-123', 'user-123', 'user-123'],
    ['JSON without session_id', '{"device_id":"abc"}', '{"device_id":"abc"}', '{"device_id":"abc"}'],
    ['broken JSON', '{"session_id":', '{"session_id":', '{"session_id":'],
    ['a long opaque id', 'u'.repeat(300), 'u'.repeat(64), 'u'.repeat(ANTHROPIC_LIMITS.sessionIdChars)],
    ['an empty id', '', null, null],
    ['absent', undefined, null, null],
  ];
  it.each(table)('%s', (_name, userId, user, sessionId) => {
    const r = anthropicToChat({ ...base, metadata: userId === undefined ? {} : { user_id: userId } });
    if (!r.ok) throw new Error(r.message);
    expect(r.chat.user).toBe(user ?? undefined);
    expect(r.sessionId).toBe(sessionId);
  });

  it('never cuts a surrogate pair in half when capping user', () => {
    const id = `${'x'.repeat(63)}😀tail`;
    const r = anthropicToChat({ ...base, metadata: { user_id: id } });
    expect(r.ok && r.chat.user).toBe('x'.repeat(63));
  });
});

describe('anthropicToChat: refusals, in Anthropic’s terms', () => {
  const table: [string, unknown, string | null, RegExp][] = [
    ['a non-object body', [1], null, /JSON object/],
    ['model missing', { max_tokens: 1, messages: [hi] }, 'model', /model/],
    ['model empty', { ...base, model: '' }, 'model', /model/],
    ['max_tokens missing', { model: 'm', messages: [hi] }, 'max_tokens', /positive integer/],
    ['max_tokens 0', { ...base, max_tokens: 0 }, 'max_tokens', /positive integer/],
    ['max_tokens 1.5', { ...base, max_tokens: 1.5 }, 'max_tokens', /positive integer/],
    ['max_tokens a string', { ...base, max_tokens: '10' }, 'max_tokens', /positive integer/],
    ['messages missing', { model: 'm', max_tokens: 1 }, 'messages', /non-empty array/],
    ['messages empty', { ...base, messages: [] }, 'messages', /non-empty array/],
    ['a message not an object', { ...base, messages: ['hi'] }, 'messages.0', /object/],
    ['role tool', { ...base, messages: [{ role: 'tool', content: 'x' }] }, 'messages.0.role', /user/],
    ['content a number', { ...base, messages: [{ role: 'user', content: 5 }] }, 'messages.0.content', /string or an array/],
    ['a block without type', { ...base, messages: [{ role: 'user', content: [{ text: 'x' }] }] }, 'messages.0.content.0', /type/],
    ['text not a string', { ...base, messages: [{ role: 'user', content: [{ type: 'text', text: 1 }] }] }, 'messages.0.content.0.text', /string/],
    ['image without source', { ...base, messages: [{ role: 'user', content: [{ type: 'image' }] }] }, 'messages.0.content.0.source', /object/],
    [
      'image of an unknown source type',
      { ...base, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'ftp' } }] }] },
      'messages.0.content.0.source.type',
      /base64/,
    ],
    [
      'image base64 without data',
      { ...base, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png' } }] }] },
      'messages.0.content.0.source',
      /data/,
    ],
    [
      'tool_use in a user message',
      { ...base, messages: [{ role: 'user', content: [{ type: 'tool_use', id: 't', name: 'n', input: {} }] }] },
      'messages.0.content.0',
      /assistant/,
    ],
    [
      'tool_result in an assistant message',
      { ...base, messages: [{ role: 'assistant', content: [{ type: 'tool_result', tool_use_id: 't' }] }] },
      'messages.0.content.0',
      /user/,
    ],
    ['tool_use without id', { ...base, messages: [{ role: 'assistant', content: [{ type: 'tool_use', name: 'n', input: {} }] }] }, 'messages.0.content.0.id', /id/],
    [
      'tool_use input not an object',
      { ...base, messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'n', input: '{}' }] }] },
      'messages.0.content.0.input',
      /object/,
    ],
    [
      'tool_result without tool_use_id',
      { ...base, messages: [{ role: 'user', content: [{ type: 'tool_result', content: 'x' }] }] },
      'messages.0.content.0.tool_use_id',
      /tool_use_id/,
    ],
    ['system a number', { ...base, system: 3 }, 'system', /string or an array/],
    ['temperature 1.5', { ...base, temperature: 1.5 }, 'temperature', /0 to 1/],
    ['top_p -0.1', { ...base, top_p: -0.1 }, 'top_p', /0 to 1/],
    ['top_k -1', { ...base, top_k: -1 }, 'top_k', /non-negative/],
    ['stop_sequences a string', { ...base, stop_sequences: 'END' }, 'stop_sequences', /array of strings/],
    ['stream a string', { ...base, stream: 'yes' }, 'stream', /boolean/],
    ['tools an object', { ...base, tools: {} }, 'tools', /array/],
    ['a tool without input_schema', { ...base, tools: [{ name: 'x' }] }, 'tools.0.input_schema', /object/],
    ['a tool without name', { ...base, tools: [{ input_schema: {} }] }, 'tools.0.name', /name/],
    ['tool_choice of an unknown type', { ...base, tool_choice: { type: 'some' } }, 'tool_choice.type', /auto/],
    ['tool_choice tool without name', { ...base, tool_choice: { type: 'tool' } }, 'tool_choice.name', /name/],
    ['thinking enabled without budget', { ...base, thinking: { type: 'enabled' } }, 'thinking.budget_tokens', /positive integer/],
    ['thinking of an unknown type', { ...base, thinking: { type: 'deep' } }, 'thinking.type', /enabled/],
    ['metadata.user_id a number', { ...base, metadata: { user_id: 7 } }, 'metadata.user_id', /string/],
  ];
  it.each(table)('%s', (_name, body, param, message) => {
    const r = anthropicToChat(body);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.param).toBe(param);
    expect(r.message).toMatch(message);
  });
});

describe('anthropicToChat: caps on what the client controls', () => {
  const L = ANTHROPIC_LIMITS;
  const msgs = (n: number): unknown[] => Array.from({ length: n }, () => hi);
  const blocks = (n: number): unknown[] => Array.from({ length: n }, () => ({ type: 'text', text: 'x' }));
  const tools = (n: number): unknown[] => Array.from({ length: n }, (_, i) => ({ name: `t${i}`, input_schema: { type: 'object' } }));
  const table: [string, Json, Json, string][] = [
    ['messages', { messages: msgs(L.messages) }, { messages: msgs(L.messages + 1) }, 'messages'],
    [
      'content blocks, across system, messages and tool results',
      { system: blocks(10), messages: [{ role: 'user', content: blocks(L.blocks - 10) }] },
      {
        system: blocks(10),
        messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: blocks(L.blocks - 10) }] }],
      },
      'messages.0.content.0.content',
    ],
    ['tools', { tools: tools(L.tools) }, { tools: tools(L.tools + 1) }, 'tools'],
    ['stop sequences', { stop_sequences: Array(L.stopSequences).fill('s') }, { stop_sequences: Array(L.stopSequences + 1).fill('s') }, 'stop_sequences'],
    ['model name', { model: 'm'.repeat(L.modelChars) }, { model: 'm'.repeat(L.modelChars + 1) }, 'model'],
  ];
  it.each(table)('%s: at the cap accepted, past it refused', (_name, atCap, pastCap, param) => {
    expect(anthropicToChat({ ...base, ...atCap }).ok).toBe(true);
    const r = anthropicToChat({ ...base, ...pastCap });
    expect(r).toMatchObject({ ok: false, param });
    expect(!r.ok && r.message).toMatch(/at most/i);
  });
});

describe('chatToAnthropic', () => {
  const opts = { model: 'claude-sonnet-4-5', id: 'msg_01abc' };
  function completion(message: Json, finish: string | null, usage?: CompletionUsage): ChatCompletion {
    return {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'gpt-4o-2024-08-06',
      choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: null, ...message }, logprobs: null, finish_reason: finish }],
      ...(usage ? { usage } : {}),
    } as ChatCompletion;
  }

  it('maps a text answer field by field, naming the model the client asked for', () => {
    const answer = completion({ content: 'Hello!' }, 'stop', { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 });
    expect(chatToAnthropic(answer, opts)).toEqual({
      id: 'msg_01abc',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: 'Hello!' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 12, output_tokens: 3, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    });
  });

  // [case, chat message fields, Anthropic content]
  const contentTable: [string, Json, unknown[]][] = [
    ['text', { content: 'Hi' }, [{ type: 'text', text: 'Hi' }]],
    ['empty text and no calls: no block', { content: '' }, []],
    ['null content: no block', { content: null }, []],
    ['a refusal becomes text', { refusal: 'I can’t help with that.' }, [{ type: 'text', text: 'I can’t help with that.' }]],
    ['content as an array of text parts', { content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }, [{ type: 'text', text: 'ab' }]],
    [
      'text, then tool calls in order, arguments parsed',
      {
        content: 'Let me check.',
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } },
        ],
      },
      [
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'call_a', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'call_b', name: 'get_time', input: { tz: 'UTC' } },
      ],
    ],
    ['empty arguments → {}', { tool_calls: [{ id: 'c', type: 'function', function: { name: 'now', arguments: '' } }] }, [{ type: 'tool_use', id: 'c', name: 'now', input: {} }]],
    [
      'invalid JSON arguments → {}',
      { tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"a":' } }] },
      [{ type: 'tool_use', id: 'c', name: 'f', input: {} }],
    ],
    ['non-object JSON arguments → {}', { tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1,2]' } }] }, [{ type: 'tool_use', id: 'c', name: 'f', input: {} }]],
    [
      'a call without id gets one from the message id',
      { tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{}' } }] },
      [{ type: 'tool_use', id: 'toolu_msg_01abc_0', name: 'f', input: {} }],
    ],
    ['legacy function_call', { function_call: { name: 'f', arguments: '{"x":1}' } }, [{ type: 'tool_use', id: 'toolu_msg_01abc_0', name: 'f', input: { x: 1 } }]],
    ['reasoning_content dropped', { content: 'Answer', reasoning_content: 'thoughts' }, [{ type: 'text', text: 'Answer' }]],
  ];
  it.each(contentTable)('content: %s', (_name, message, content) => {
    expect(chatToAnthropic(completion(message, 'stop'), opts).content).toEqual(content);
  });

  const call = { tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] };
  // [finish_reason, message, stop_reason]
  const stopTable: [string | null, Json, string][] = [
    ['stop', { content: 'x' }, 'end_turn'],
    ['length', { content: 'x' }, 'max_tokens'],
    ['tool_calls', call, 'tool_use'],
    ['function_call', { function_call: { name: 'f', arguments: '{}' } }, 'tool_use'],
    ['content_filter', { content: '' }, 'refusal'],
    [null, { content: 'x' }, 'end_turn'],
    ['something_new', { content: 'x' }, 'end_turn'],
    ['stop', call, 'tool_use'],
    [null, call, 'tool_use'],
    ['length', call, 'max_tokens'],
  ];
  it.each(stopTable)('finish_reason %s (%j) → stop_reason %s', (finish, message, stop) => {
    expect(chatToAnthropic(completion(message, finish), opts).stop_reason).toBe(stop);
  });

  const usageTable: [string, CompletionUsage | undefined, Json][] = [
    [
      'cached tokens counted apart from input',
      { prompt_tokens: 1000, completion_tokens: 50, total_tokens: 1050, prompt_tokens_details: { cached_tokens: 800 } },
      { input_tokens: 200, output_tokens: 50, cache_read_input_tokens: 800, cache_creation_input_tokens: 0 },
    ],
    [
      'details without cached tokens',
      { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12, prompt_tokens_details: { audio_tokens: 0 } },
      { input_tokens: 10, output_tokens: 2, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    ],
    [
      'cached more than prompt (a broken upstream) capped',
      { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12, prompt_tokens_details: { cached_tokens: 50 } },
      { input_tokens: 0, output_tokens: 2, cache_read_input_tokens: 10, cache_creation_input_tokens: 0 },
    ],
    ['no usage', undefined, { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 }],
  ];
  it.each(usageTable)('usage: %s', (_name, usage, expected) => {
    expect(chatToAnthropic(completion({ content: 'x' }, 'stop', usage), opts).usage).toEqual(expected);
  });

  it('reads nothing from a body that is not a completion', () => {
    expect(chatToAnthropic('nonsense', opts)).toEqual({
      id: 'msg_01abc',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    });
  });
});

describe('anthropicError', () => {
  const table: [number, string][] = [
    [400, 'invalid_request_error'],
    [401, 'authentication_error'],
    [403, 'permission_error'],
    [404, 'not_found_error'],
    [408, 'invalid_request_error'],
    [413, 'request_too_large'],
    [422, 'invalid_request_error'],
    [429, 'rate_limit_error'],
    [500, 'api_error'],
    [502, 'api_error'],
    [503, 'overloaded_error'],
    [504, 'api_error'],
    [529, 'overloaded_error'],
  ];
  it.each(table)('%i → %s', (status, type) => {
    expect(anthropicError(status, 'why')).toEqual({ type: 'error', error: { type, message: 'why' } });
  });
});

describe('anthropicCountTokensText', () => {
  it('collects system, message text, tool_use, tool_result, documents and tool definitions', () => {
    const { text, chars } = anthropicCountTokensText({
      model: 'm',
      system: [{ type: 'text', text: 'SYS' }],
      messages: [
        { role: 'user', content: 'hello' },
        { role: 'assistant', content: [{ type: 'text', text: 'ok' }, { type: 'tool_use', id: 't', name: 'Bash', input: { command: 'ls' } }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: 'file.txt' }, { type: 'image', source: {} }] },
            { type: 'tool_result', tool_use_id: 'u', content: 'plain' },
            { type: 'document', source: { type: 'text', data: 'DOC' } },
          ],
        },
      ],
      tools: [{ name: 'Bash', description: 'Run', input_schema: { type: 'object' } }],
    });
    expect(text).toBe(['SYS', 'hello', 'ok', 'Bash', '{"command":"ls"}', 'file.txt', 'plain', 'DOC', 'Bash', 'Run', '{"type":"object"}'].join('\n'));
    expect(chars).toBe(text.length);
  });

  it('keeps at most 1 MiB of text but counts all of it', () => {
    const big = 'a'.repeat(COUNT_TEXT_MAX_CHARS + 500);
    const { text, chars } = anthropicCountTokensText({ system: 'sys', messages: [{ role: 'user', content: big }, { role: 'user', content: 'tail' }] });
    expect(text.length).toBe(COUNT_TEXT_MAX_CHARS);
    expect(text.startsWith('sys\naaa')).toBe(true);
    expect(chars).toBe(3 + 1 + big.length + 1 + 4);
  });

  it('reads nothing from a body that is not an object', () => {
    expect(anthropicCountTokensText(null)).toEqual({ text: '', chars: 0 });
  });
});
