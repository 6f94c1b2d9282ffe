import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Token estimates, for when a provider reports no usage and for `max_context_length`. The
 * tokenizer is OpenAI's o200k (gpt-4o family): exact for those models, close for others.
 * An estimate is never 0: a request that reached a provider cost something.
 *
 * Bounded whatever the text (a client or an upstream chooses it), and never on the event loop:
 * - BPE is quadratic in the length of one pre-token, and a run of one letter or of CJK is one
 *   pre-token, so text is counted in slices of at most SLICE_CHARS (cut at white space where
 *   there is some), and only the first EXACT_CHARS of a text exactly; the rest is extrapolated
 *   at the rate of the counted part (worst case ~25 ms of CPU, however large the text);
 * - the tokenizer runs in a worker thread: loading its tables takes ~0.5 s of CPU and ~65 MB,
 *   paid on first need only, and never stalls the requests being served;
 * - each count has a deadline and the queue a bound: past either, the estimate is the length
 *   divided by four.
 */
export const EXACT_CHARS = 16 * 1024;
const SLICE_CHARS = 256;
/** Without white space to cut at, a slice is this short: BPE on it stays well under a millisecond. */
const HARD_SLICE_CHARS = 128;
const DEADLINE_MS = 2000;
const MAX_QUEUED = 256;

/**
 * Tokens of `text`; `totalChars` says how long the whole text was when `text` is a sample of
 * it (the start of a long answer): the count is scaled up to it.
 */
export async function estimateTokens(text: string, totalChars = text.length): Promise<number> {
  if (totalChars <= 0) return 0;
  const exact = text.slice(0, EXACT_CHARS);
  const counted = exact.length === 0 ? null : await tokenizer().count(slices(exact));
  if (counted === null) return Math.max(1, Math.ceil(totalChars / 4));
  const tokens = totalChars > exact.length ? Math.ceil(counted * (totalChars / exact.length)) : counted;
  return Math.max(1, tokens);
}

/** The text cut into pieces that each tokenize in linear time. */
export function slices(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const end = sliceEnd(text, i, text.length);
    out.push(text.slice(i, end));
    i = end;
  }
  return out;
}

function sliceEnd(text: string, start: number, limit: number): number {
  const hard = Math.min(limit, start + SLICE_CHARS);
  if (hard === limit) return limit;
  // Cut before the last white space of the slice (o200k joins a space to the word after it), so
  // that words stay whole and counts exact.
  for (let j = hard - 1; j > start + 16; j--) {
    const c = text.charCodeAt(j);
    if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) return j;
  }
  let end = Math.min(limit, start + HARD_SLICE_CHARS);
  // Never between the two halves of a surrogate pair.
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff && end < limit) end += 1;
  return end;
}

/** The worker's whole program: sum the tokens of the slices it is sent. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { countTokens } = require(workerData.tokenizer);
parentPort.on('message', ({ id, slices }) => {
  let n = 0;
  for (const s of slices) n += countTokens(s);
  parentPort.postMessage({ id, n });
});
parentPort.postMessage({ id: 0, n: 0 });
`;

class TokenizerThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (n: number | null) => void; timer: NodeJS.Timeout }>();
  private seq = 0;
  loaded = false;
  readonly ready: Promise<void>;

  constructor() {
    const path = createRequire(import.meta.url).resolve('gpt-tokenizer');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { tokenizer: path } });
    this.worker.unref();
    let onReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (onReady = resolve));
    this.worker.on('message', ({ id, n }: { id: number; n: number }) => {
      if (id === 0) {
        this.loaded = true;
        onReady();
        return;
      }
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.resolve(n);
    });
    this.worker.on('error', () => this.failAll());
    this.worker.on('exit', () => this.failAll());
  }

  /** The tokens of the slices, or null when the tokenizer cannot answer in time. */
  count(parts: string[]): Promise<number | null> {
    if (this.pending.size >= MAX_QUEUED) return Promise.resolve(null);
    const id = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(null);
      }, DEADLINE_MS);
      timer.unref();
      this.pending.set(id, { resolve, timer });
      this.worker.postMessage({ id, slices: parts });
    });
  }

  private failAll(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve(null);
    }
    this.pending.clear();
    if (thread === this) thread = null;
  }
}

let thread: TokenizerThread | null = null;

function tokenizer(): TokenizerThread {
  thread ??= new TokenizerThread();
  return thread;
}

/** Starts the tokenizer's thread and waits until its tables are loaded (the first estimate does this by itself). */
export function loadTokenizer(): Promise<void> {
  return tokenizer().ready;
}

export function tokenizerLoaded(): boolean {
  return thread?.loaded === true;
}

/**
 * The prompt of a request in tokens: messages (with their overhead), tools, prompt or input.
 * The texts are gathered into one bounded sample first, so that a body of many messages costs
 * no more than one of a single long message.
 */
export async function promptTokens(body: Readonly<Record<string, unknown>>): Promise<number> {
  const text = new TextSample(EXACT_CHARS);
  let overhead = 0;
  let ids = 0;
  if (Array.isArray(body.messages)) {
    // OpenAI's accounting: about 3 tokens of framing per message, 3 to prime the answer.
    overhead += 3;
    for (const m of body.messages) {
      overhead += 3;
      if (typeof m !== 'object' || m === null) continue;
      const msg = m as Record<string, unknown>;
      addContent(text, msg.content);
      if (typeof msg.name === 'string') {
        text.add(msg.name);
        overhead += 1;
      }
      if (Array.isArray(msg.tool_calls)) text.add(JSON.stringify(msg.tool_calls));
    }
    if (Array.isArray(body.tools)) text.add(JSON.stringify(body.tools));
  }
  for (const input of [body.prompt, body.input]) {
    if (input === undefined) continue;
    ids += addInput(text, input);
  }
  return Math.max(1, overhead + ids + (text.chars === 0 ? 0 : await estimateTokens(text.sample, text.chars)));
}

/** The start of a long text, up to `cap` characters, and how long the whole was. */
export class TextSample {
  sample = '';
  chars = 0;

  constructor(private readonly cap: number) {}

  add(text: string): void {
    if (text.length === 0) return;
    // Pieces are separated so that two texts never merge into one word.
    const piece = this.chars === 0 ? text : `\n${text}`;
    this.chars += piece.length;
    if (this.sample.length < this.cap) this.sample += piece.length <= this.cap - this.sample.length ? piece : piece.slice(0, this.cap - this.sample.length);
  }
}

/** `prompt` / `input`: text, a list of texts, token ids, or lists of token ids. Returns the token ids counted. */
function addInput(text: TextSample, input: unknown): number {
  if (typeof input === 'number') return 1;
  if (Array.isArray(input)) {
    let ids = 0;
    for (const part of input) ids += addInput(text, part);
    return ids;
  }
  addContent(text, input);
  return 0;
}

function addContent(text: TextSample, content: unknown): void {
  if (typeof content === 'string') {
    text.add(content);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const part of content) {
    if (typeof part === 'string') text.add(part);
    else if (typeof part === 'object' && part !== null && typeof (part as { text?: unknown }).text === 'string') text.add((part as { text: string }).text);
  }
}
