import { describe, expect, it } from 'vitest';
import { DONE, DONE_EVENT, encodeEvent, SseDecoder, type SseEvent } from '../../src/stream/sse.js';

interface Seen {
  data: string | null;
  event: string | null;
}

/** Feeds the chunks in order, then ends the stream; every event, comment blocks included. */
function decode(chunks: readonly Buffer[]): SseEvent[] {
  const decoder = new SseDecoder();
  const out: SseEvent[] = [];
  for (const chunk of chunks) out.push(...decoder.push(chunk));
  out.push(...decoder.end());
  return out;
}

/** The events a client sees: comment and blank-line blocks (no data, no event name) left out. */
function meaningful(events: readonly SseEvent[]): Seen[] {
  return events.filter((e) => e.data !== null || e.event !== null).map((e) => ({ data: e.data, event: e.event }));
}

function rawOf(events: readonly SseEvent[]): Buffer {
  return Buffer.concat(events.map((e) => e.raw));
}

/** mulberry32: a small seeded PRNG, so a failing split can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomChunks(bytes: Buffer, next: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const size = 1 + Math.floor(next() * 7);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

interface Transcript {
  name: string;
  text: string;
  expected: Seen[];
}

const transcripts: Transcript[] = [
  {
    name: 'mixed line ends, comments, multi-line data, event fields, [DONE]',
    text:
      ': keep-alive\n' +
      '\n' +
      'data: {"a":"€"}\n' +
      '\n' +
      'event: delta\r\n' +
      'data:first line\r\n' +
      'data: 中文 line\r\n' +
      '\r\n' +
      '\n' + // a stray blank line
      'data: 🙂 emoji\r' +
      '\r' +
      ': comment inside a block\r\n' +
      'data:  two\n' +
      'data\n' +
      '\n' +
      'event: ping\n' +
      '\n' +
      'data: [DONE]\r\n' +
      '\r\n',
    expected: [
      { data: '{"a":"€"}', event: null },
      { data: 'first line\n中文 line', event: 'delta' },
      { data: '🙂 emoji', event: null },
      { data: ' two\n', event: null },
      { data: null, event: 'ping' },
      { data: '[DONE]', event: null },
    ],
  },
  {
    name: 'CR-only events and a final event ended by a line end but no blank line',
    text:
      'event: start\n' +
      'data:{"x":1}\n' +
      '\n' +
      ':c\n' +
      '\n' +
      '\n' +
      '\n' +
      'data: a\r' +
      'data: b\r' +
      '\r' +
      'data: ok €\r\n' +
      'data: 中\r\n',
    expected: [
      { data: '{"x":1}', event: 'start' },
      { data: 'a\nb', event: null },
      { data: 'ok €\n中', event: null },
    ],
  },
  {
    name: 'a final [DONE] with no line end at all',
    text: 'data: 1 🙂\n\n: c\r\n\r\ndata: [DONE]',
    expected: [
      { data: '1 🙂', event: null },
      { data: '[DONE]', event: null },
    ],
  },
];

describe('SseDecoder: split anywhere, same events, same bytes', () => {
  for (const t of transcripts) {
    const bytes = Buffer.from(t.text, 'utf8');

    it(`${t.name}: whole`, () => {
      const events = decode([bytes]);
      expect(meaningful(events)).toEqual(t.expected);
      expect(rawOf(events).equals(bytes)).toBe(true);
      for (const e of events) expect(e.data ?? '').not.toContain('\uFFFD');
    });

    it(`${t.name}: split in two at every byte`, () => {
      const whole = meaningful(decode([bytes]));
      for (let at = 0; at <= bytes.length; at++) {
        const events = decode([bytes.subarray(0, at), bytes.subarray(at)]);
        expect(meaningful(events), `split at ${at}`).toEqual(whole);
        expect(meaningful(events), `split at ${at}`).toEqual(t.expected);
        expect(rawOf(events).equals(bytes), `raw bytes, split at ${at}`).toBe(true);
      }
    });

    it(`${t.name}: random chunks of 1..7 bytes (seeded)`, () => {
      const next = prng(0x5eed + t.text.length);
      for (let round = 0; round < 300; round++) {
        const chunks = randomChunks(bytes, next);
        const events = decode(chunks);
        const sizes = chunks.map((c) => c.length).join(',');
        expect(meaningful(events), `round ${round}, sizes ${sizes}`).toEqual(t.expected);
        expect(rawOf(events).equals(bytes), `raw bytes, round ${round}, sizes ${sizes}`).toBe(true);
      }
    });

    it(`${t.name}: one byte at a time`, () => {
      const chunks = [...bytes].map((b) => Buffer.from([b]));
      const events = decode(chunks);
      expect(meaningful(events)).toEqual(t.expected);
      expect(rawOf(events).equals(bytes)).toBe(true);
    });
  }

  it('keeps comment and blank-line blocks as events with null data, with their exact bytes', () => {
    const events = decode([Buffer.from(': keep-alive\n\n\ndata: x\n\n')]);
    expect(events.map((e) => ({ raw: e.raw.toString(), data: e.data, event: e.event }))).toEqual([
      { raw: ': keep-alive\n\n', data: null, event: null },
      { raw: '\n', data: null, event: null },
      { raw: 'data: x\n\n', data: 'x', event: null },
    ]);
  });

  it('gives each whole event its raw bytes, blank line included', () => {
    const events = decode([Buffer.from('event: a\r\ndata: 1\r\n\r\ndata: 2\n\n')]);
    expect(events.map((e) => e.raw.toString())).toEqual(['event: a\r\ndata: 1\r\n\r\n', 'data: 2\n\n']);
  });
});

describe('SseDecoder: specific cases', () => {
  it('treats a CR at the end of one chunk and an LF at the start of the next as one line end', () => {
    const d = new SseDecoder();
    // Were the LF a line end of its own, it would be a blank line and cut 'a' and 'b' apart.
    expect(d.push(Buffer.from('data: a\r'))).toEqual([]);
    const events = d.push(Buffer.from('\ndata: b\r\n\r\n'));
    expect(meaningful(events)).toEqual([{ data: 'a\nb', event: null }]);
    expect(meaningful(d.end())).toEqual([]);
  });

  it('ends an event at a blank CRLF split between CR and LF', () => {
    const d = new SseDecoder();
    const first = d.push(Buffer.from('data: a\r\n\r'));
    expect(meaningful(first)).toEqual([{ data: 'a', event: null }]);
    const second = d.push(Buffer.from('\ndata: b\r\n\r\n'));
    expect(meaningful(second)).toEqual([{ data: 'b', event: null }]);
    const rest = d.end();
    expect(rawOf([...first, ...second, ...rest]).toString()).toBe('data: a\r\n\r\ndata: b\r\n\r\n');
  });

  it('decodes a UTF-8 character split across chunks without U+FFFD', () => {
    const bytes = Buffer.from('data: 1€2中3🙂\n\n', 'utf8');
    const euro = bytes.indexOf(0xe2); // first byte of '€'
    const emoji = bytes.indexOf(0xf0); // first byte of '🙂'
    const events = decode([
      bytes.subarray(0, euro + 1),
      bytes.subarray(euro + 1, euro + 2),
      bytes.subarray(euro + 2, emoji + 2),
      bytes.subarray(emoji + 2),
    ]);
    expect(meaningful(events)).toEqual([{ data: '1€2中3🙂', event: null }]);
    expect(events[0]?.data).not.toContain('\uFFFD');
  });

  it('reads data:x with no space as x', () => {
    expect(meaningful(decode([Buffer.from('data:x\n\n')]))).toEqual([{ data: 'x', event: null }]);
  });

  it('strips only one space after the colon', () => {
    expect(meaningful(decode([Buffer.from('data:  two spaces\n\n')]))).toEqual([{ data: ' two spaces', event: null }]);
  });

  it('reads a data line with no colon as empty data', () => {
    expect(meaningful(decode([Buffer.from('data\n\n')]))).toEqual([{ data: '', event: null }]);
  });

  it('keeps comments out of the data', () => {
    const events = decode([Buffer.from(': one\ndata: a\n: two\ndata: b\n:three\n\n')]);
    expect(meaningful(events)).toEqual([{ data: 'a\nb', event: null }]);
  });

  it('ignores unknown fields and reads event names', () => {
    const events = decode([Buffer.from('id: 7\nretry: 100\nevent: delta\ndata: x\n\n')]);
    expect(meaningful(events)).toEqual([{ data: 'x', event: 'delta' }]);
  });

  it('end() flushes a last event that had no blank line', () => {
    const d = new SseDecoder();
    expect(d.push(Buffer.from('data: 1\n\ndata: last\n'))).toHaveLength(1);
    const rest = d.end();
    expect(rest.map((e) => ({ raw: e.raw.toString(), data: e.data }))).toEqual([{ raw: 'data: last\n', data: 'last' }]);
  });

  it('end() flushes a pending partial line', () => {
    const d = new SseDecoder();
    expect(d.push(Buffer.from('event: e\ndata: par'))).toEqual([]);
    expect(d.push(Buffer.from('tial €'))).toEqual([]);
    const rest = d.end();
    expect(rest.map((e) => ({ raw: e.raw.toString(), data: e.data, event: e.event }))).toEqual([
      { raw: 'event: e\ndata: partial €', data: 'partial €', event: 'e' },
    ]);
  });

  it('end() on a stream that ended cleanly returns []', () => {
    const d = new SseDecoder();
    expect(d.push(Buffer.from('data: 1\n\n'))).toHaveLength(1);
    expect(d.end()).toEqual([]);
    expect(new SseDecoder().end()).toEqual([]);
  });

  it('push of an empty chunk returns nothing and breaks nothing', () => {
    const d = new SseDecoder();
    expect(d.push(Buffer.alloc(0))).toEqual([]);
    expect(d.push(Buffer.from('data: a\r'))).toEqual([]);
    expect(d.push(Buffer.alloc(0))).toEqual([]);
    expect(meaningful(d.push(Buffer.from('\n\n')))).toEqual([{ data: 'a', event: null }]);
  });
});

describe('encodeEvent', () => {
  it('encodes an object as one JSON data line', () => {
    expect(encodeEvent({ a: 1, b: 'é' })).toBe('data: {"a":1,"b":"é"}\n\n');
  });

  it('encodes a string with line ends as several data lines', () => {
    expect(encodeEvent('one\ntwo\r\nthree\rfour')).toBe('data: one\ndata: two\ndata: three\ndata: four\n\n');
  });

  it('puts the event name first', () => {
    expect(encodeEvent({ x: 1 }, 'delta')).toBe('event: delta\ndata: {"x":1}\n\n');
  });

  it('DONE_EVENT is the OpenAI end marker', () => {
    expect(DONE).toBe('[DONE]');
    expect(DONE_EVENT).toBe('data: [DONE]\n\n');
  });

  it('round trips through the decoder', () => {
    const cases: Array<[unknown, string | undefined, string]> = [
      [{ a: 1, s: 'line\nbreak €' }, undefined, JSON.stringify({ a: 1, s: 'line\nbreak €' })],
      ['multi\nline\n中文 🙂', 'delta', 'multi\nline\n中文 🙂'],
      ['', undefined, ''],
      [' leading space', undefined, ' leading space'],
      [DONE, undefined, DONE],
    ];
    const text = cases.map(([data, event]) => encodeEvent(data, event)).join('');
    const events = decode([Buffer.from(text)]);
    expect(meaningful(events)).toEqual(cases.map(([, event, data]) => ({ data, event: event ?? null })));
    expect(rawOf(events).toString()).toBe(text);
  });
});
