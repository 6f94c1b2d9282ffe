import { describe, expect, it } from 'vitest';
import { createLogger, preparedLine } from '../../src/observability/logger.js';

/** A logger that keeps its lines, with the time made constant so that two lines can be compared byte for byte. */
function capture(level: 'info' | 'warn' = 'info') {
  const lines: string[] = [];
  const log = createLogger({ level, stdout: false, extra: { write: (s: string) => void lines.push(s.replace(/"time":"[^"]+"/, '"time":"T"')) } });
  return { log, lines };
}

/** `fields` as preparedLine takes them: the JSON of the object without its braces. */
const inner = (o: Record<string, unknown>): string => JSON.stringify(o).slice(1, -1);

describe('preparedLine: the per-request lines written by hand are the lines pino writes', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['a request line', { reqId: '7f0c', method: 'POST', path: '/v1/chat/completions', model: 'gpt-x', stream: false, status: 200, provider: 'p1', tries: [{ provider: 'p1', result: '200', ms: 3 }], latencyMs: 4, tokens: 30, msg: 'POST /v1/chat/completions gpt-x 200 via p1 in 4 ms' }],
    ['client text with quotes, control characters and non-ASCII', { reqId: 'r', model: 'm"\\\n\u0001ü🙂', path: '/v1/x?y', tokens: null, cost: 0.000125, msg: 'm"\\\n\u0001ü🙂' }],
    ['a secret, plain and JSON-escaped', { reqId: 'r', leak: 'sk-live-secret-value', escaped: 'quote"d-secret', msg: 'sk-live-secret-value' }],
  ];

  it.each(cases)('%s', (_, fields) => {
    const { log, lines } = capture();
    log.setSecrets(['sk-live-secret-value', 'quote"d-secret']);
    const { msg, ...rest } = fields;
    log.logger.info(rest, msg as string);
    preparedLine(log.logger, 'info', inner(fields));
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe(lines[0]);
    expect(lines[1]).not.toContain('secret-value');
    expect(lines[1]).not.toContain('d-secret');
    expect(JSON.parse(lines[1]!)).toMatchObject({ level: 'INFO', time: 'T' });
  });

  it('takes the level word and the logger\'s level as pino does', () => {
    const { log, lines } = capture('warn');
    preparedLine(log.logger, 'info', '"msg":"dropped"');
    preparedLine(log.logger, 'warn', '"msg":"w"');
    preparedLine(log.logger, 'error', '"msg":"e"');
    log.logger.warn('w');
    log.logger.error('e');
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { level: 'WARNING', time: 'T', msg: 'w' }, { level: 'ERROR', time: 'T', msg: 'e' },
      { level: 'WARNING', time: 'T', msg: 'w' }, { level: 'ERROR', time: 'T', msg: 'e' },
    ]);
  });
});
