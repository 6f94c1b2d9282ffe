import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createUpstreamDouble, type Behavior, type UpstreamDouble } from '../../tools/upstream-double.js';

/**
 * The upstream double's `stallAfterRole`: a stream sends its lifecycle frames (chat: the role-only
 * first chunk; messages: message_start and ping; responses: response.created and
 * response.in_progress; Gemini: the headers only), then nothing (or `: keep-alive` comments) for
 * a while or for good, then its content as usual. What the gateway's first-token timeout is tested against.
 */
let double: UpstreamDouble;
beforeAll(async () => {
  double = await createUpstreamDouble();
});
afterAll(() => double.close());
beforeEach(() => double.reset());
afterEach(() => vi.restoreAllMocks());

type Route = 'chat' | 'messages' | 'responses' | 'gemini';
const ROUTES: Route[] = ['chat', 'messages', 'responses', 'gemini'];

/** The URL and body of a streamed request on each route (one provider per route). */
function streamRequest(route: Route): { url: string; body: unknown } {
  const base = double.url(route);
  if (route === 'chat') return { url: `${base}/chat/completions`, body: { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] } };
  if (route === 'messages') return { url: `${base}/messages`, body: { model: 'claude-double', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] } };
  if (route === 'responses') return { url: `${base}/responses`, body: { model: 'm', stream: true, input: 'hi' } };
  return { url: `${base.replace(/\/v1$/, '/v1beta')}/models/gemini-double:streamGenerateContent?alt=sse`, body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] } };
}

interface Frame {
  /** ms since the request was sent. */
  at: number;
  raw: string;
  /** `event:` name, if any. */
  event?: string;
  /** The `data:` payload, if any. */
  data?: string;
}

/** A frame sent before any content: a comment, or the route's lifecycle events. */
function isLifecycle(route: Route, f: Frame): boolean {
  if (f.raw.startsWith(':')) return true;
  if (route === 'chat') {
    if (f.data === undefined || f.data === '[DONE]') return false;
    const delta = (JSON.parse(f.data) as { choices?: Array<{ delta?: Record<string, unknown> }> }).choices?.[0]?.delta ?? {};
    return delta.role === 'assistant' && !delta.content && !delta.tool_calls;
  }
  if (route === 'messages') return f.event === 'message_start' || f.event === 'ping';
  if (route === 'responses') return f.event === 'response.created' || f.event === 'response.in_progress';
  return false; // Gemini has no lifecycle event: only its headers.
}

/** The text a content frame carries, per route. */
function textOf(route: Route, f: Frame): string {
  if (f.data === undefined || f.data === '[DONE]') return '';
  const d = JSON.parse(f.data) as any;
  if (route === 'chat') return d.choices?.[0]?.delta?.content ?? '';
  if (route === 'messages') return d.type === 'content_block_delta' ? (d.delta?.text ?? '') : '';
  if (route === 'responses') return d.type === 'response.output_text.delta' ? d.delta : '';
  return (d.candidates?.[0]?.content?.parts ?? []).map((p: { text?: string }) => p.text ?? '').join('');
}

/** Whether the frame closes the stream normally, per route. */
function isEnd(route: Route, f: Frame): boolean {
  if (route === 'chat') return f.data === '[DONE]';
  if (route === 'messages') return f.event === 'message_stop';
  if (route === 'responses') return f.event === 'response.completed';
  return f.data !== undefined && (JSON.parse(f.data) as any).candidates?.[0]?.finishReason === 'STOP';
}

/**
 * Opens a stream on `route` with behaviour `b`; its frames are collected with their arrival time
 * as they come. `done` settles when the body ends (or fails, e.g. on abort).
 */
async function open(route: Route, b: Behavior) {
  double.script(route, b);
  const { url, body } = streamRequest(route);
  const abort = new AbortController();
  const started = performance.now();
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: abort.signal });
  const headersAt = performance.now() - started;
  const frames: Frame[] = [];
  const done = (async () => {
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += (chunk as Buffer).toString('utf8');
        for (let m = /\r?\n\r?\n/.exec(buffer); m; m = /\r?\n\r?\n/.exec(buffer)) {
          const raw = buffer.slice(0, m.index);
          buffer = buffer.slice(m.index + m[0].length);
          const f: Frame = { at: performance.now() - started, raw };
          for (const line of raw.split(/\r?\n/)) {
            if (line.startsWith('event: ')) f.event = line.slice('event: '.length);
            if (line.startsWith('data: ')) f.data = line.slice('data: '.length);
          }
          frames.push(f);
        }
      }
      return 'ended' as const;
    } catch {
      return 'aborted' as const;
    }
  })();
  return { status: res.statusCode, headers: res.headers, headersAt, frames, done, abort: () => abort.abort() };
}

describe.each(ROUTES)('%s stream with stallAfterRole', (route) => {
  it('300 ms: the lifecycle frames come at once, the content ≥ 280 ms later, then the stream ends normally', async () => {
    const s = await open(route, { stallAfterRole: 300, content: 'Stalled then fine' });
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toContain('text/event-stream');
    expect(await s.done).toBe('ended');
    const first = s.frames.findIndex((f) => !isLifecycle(route, f));
    expect(first).toBeGreaterThanOrEqual(0);
    const lifecycle = s.frames.slice(0, first);
    if (route === 'gemini') {
      // Nothing before the content but the headers, and those come at once.
      expect(lifecycle).toEqual([]);
      expect(s.headersAt).toBeLessThan(150);
    } else {
      expect(lifecycle.map((f) => f.event ?? 'data')).toEqual(
        { chat: ['data'], messages: ['message_start', 'ping'], responses: ['response.created', 'response.in_progress'] }[route],
      );
      expect(lifecycle[0]!.at).toBeLessThan(150);
      expect(lifecycle.at(-1)!.at).toBeLessThan(150);
    }
    if (route === 'chat') {
      // OpenAI's role chunk: role assistant, content "", no finish reason.
      expect(JSON.parse(lifecycle[0]!.data!).choices).toEqual([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
    }
    // Every frame after the lifecycle ones, content or not, waited for the stall.
    expect(s.frames[first]!.at).toBeGreaterThanOrEqual(280);
    // No keep-alive unless asked for; the whole text, then the normal end, last.
    expect(s.frames.some((f) => f.raw.startsWith(':'))).toBe(false);
    expect(s.frames.map((f) => textOf(route, f)).join('')).toBe('Stalled then fine');
    expect(isEnd(route, s.frames.at(-1)!)).toBe(true);
    const r = double.received(route)[0]!;
    expect(r.finished).toBe(true);
    expect(r.closedEarly).toBe(false);
  });

  it('true with keepAliveMs 50: only lifecycle frames and `: keep-alive` comments for 400 ms; the double sees the client leave', async () => {
    const s = await open(route, { stallAfterRole: true, keepAliveMs: 50 });
    expect(s.status).toBe(200);
    expect(s.headersAt).toBeLessThan(150);
    await new Promise((r) => setTimeout(r, 400));
    expect(s.frames.every((f) => isLifecycle(route, f))).toBe(true);
    const comments = s.frames.filter((f) => f.raw.startsWith(':'));
    expect(comments.length).toBeGreaterThanOrEqual(4);
    expect(new Set(comments.map((f) => f.raw))).toEqual(new Set([': keep-alive']));
    // The lifecycle frames come before the first comment (Gemini has none).
    const lifecycle = s.frames.filter((f) => !f.raw.startsWith(':'));
    expect(lifecycle).toHaveLength({ chat: 1, messages: 2, responses: 2, gemini: 0 }[route]);
    expect(s.frames.slice(0, lifecycle.length)).toEqual(lifecycle);
    s.abort();
    expect(await s.done).toBe('aborted');
    await vi.waitFor(() => expect(double.received(route)[0]!.closedEarly).toBe(true));
    expect(double.received(route)[0]!.finished).toBe(false);
  });

  it('the stall and keep-alive timers are cleared when the client leaves mid-stall', async () => {
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    const clearTimeoutSpy = vi.spyOn(globalThis, 'clearTimeout');
    const clearIntervalSpy = vi.spyOn(globalThis, 'clearInterval');
    const s = await open(route, { stallAfterRole: 60_000, keepAliveMs: 40 });
    await vi.waitFor(() => expect(s.frames.filter((f) => f.raw.startsWith(':')).length).toBeGreaterThanOrEqual(2));
    const stall = setTimeoutSpy.mock.calls.findIndex((c) => c[1] === 60_000);
    const pinger = setIntervalSpy.mock.calls.findIndex((c) => c[1] === 40);
    expect(stall).toBeGreaterThanOrEqual(0);
    expect(pinger).toBeGreaterThanOrEqual(0);
    s.abort();
    await s.done;
    await vi.waitFor(() => expect(double.received(route)[0]!.closedEarly).toBe(true));
    expect(clearTimeoutSpy).toHaveBeenCalledWith(setTimeoutSpy.mock.results[stall]!.value);
    expect(clearIntervalSpy).toHaveBeenCalledWith(setIntervalSpy.mock.results[pinger]!.value);
  });
});

describe('official SDKs read a stalled stream (stallAfterRole 200, keep-alives every 50 ms) to its normal end', () => {
  const behavior: Behavior = { stallAfterRole: 200, keepAliveMs: 50, content: 'Worth the wait' };
  const timed = async <T>(f: () => Promise<T>): Promise<{ value: T; took: number }> => {
    const started = performance.now();
    const value = await f();
    return { value, took: performance.now() - started };
  };

  it('openai: chat.completions.create({ stream: true })', async () => {
    double.script('chat', behavior);
    const client = new OpenAI({ baseURL: double.url('chat'), apiKey: 'k', maxRetries: 0 });
    const { value, took } = await timed(async () => {
      const stream = await client.chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
      const roles: string[] = [];
      let text = '';
      let finish: string | null = null;
      for await (const c of stream) {
        if (c.choices[0]?.delta.role) roles.push(c.choices[0].delta.role);
        text += c.choices[0]?.delta.content ?? '';
        finish = c.choices[0]?.finish_reason ?? finish;
      }
      return { roles, text, finish };
    });
    expect(value).toEqual({ roles: ['assistant'], text: 'Worth the wait', finish: 'stop' });
    expect(took).toBeGreaterThanOrEqual(190);
    expect(double.received('chat')[0]!.finished).toBe(true);
  });

  it('openai: responses.stream() and its final response', async () => {
    double.script('responses', behavior);
    const client = new OpenAI({ baseURL: double.url('responses'), apiKey: 'k', maxRetries: 0 });
    const { value, took } = await timed(async () => {
      const stream = client.responses.stream({ model: 'm', input: 'hi' });
      const types: string[] = [];
      for await (const e of stream) types.push(e.type);
      return { types, final: await stream.finalResponse() };
    });
    expect(value.types.slice(0, 2)).toEqual(['response.created', 'response.in_progress']);
    expect(value.types.at(-1)).toBe('response.completed');
    expect(value.final.status).toBe('completed');
    expect(value.final.output_text).toBe('Worth the wait');
    expect(took).toBeGreaterThanOrEqual(190);
  });

  it('@anthropic-ai/sdk: messages.stream() and its final message', async () => {
    double.script('messages', behavior);
    const client = new Anthropic({ baseURL: double.url('messages').replace(/\/v1$/, ''), apiKey: 'k', maxRetries: 0 });
    const { value, took } = await timed(async () => {
      const stream = client.messages.stream({ model: 'claude-double', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
      const types: string[] = [];
      for await (const e of stream) types.push(e.type);
      return { types, final: await stream.finalMessage() };
    });
    expect(value.types[0]).toBe('message_start');
    expect(value.types.at(-1)).toBe('message_stop');
    expect(value.final.content).toEqual([{ type: 'text', text: 'Worth the wait' }]);
    expect(value.final.stop_reason).toBe('end_turn');
    expect(took).toBeGreaterThanOrEqual(190);
  });

  it('@google/genai: models.generateContentStream()', async () => {
    double.script('gemini', behavior);
    const client = new GoogleGenAI({ apiKey: 'gk', httpOptions: { baseUrl: double.url('gemini').replace(/\/v1$/, ''), apiVersion: 'v1beta' } });
    const { value, took } = await timed(async () => {
      let text = '';
      let finish: string | undefined;
      for await (const c of await client.models.generateContentStream({ model: 'gemini-double', contents: 'hi' })) {
        text += c.text ?? '';
        finish = c.candidates?.[0]?.finishReason ?? finish;
      }
      return { text, finish };
    });
    expect(value).toEqual({ text: 'Worth the wait', finish: 'STOP' });
    expect(took).toBeGreaterThanOrEqual(190);
  });
});
