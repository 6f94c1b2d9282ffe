import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { createLogger, parseLevel } from '../../src/observability/logger.js';
import { guardFor, keyMatches, presentedKey } from '../../src/server/auth.js';

const req = (headers: Readonly<Record<string, string | readonly string[] | undefined>>): FastifyRequest => ({ headers }) as unknown as FastifyRequest;

describe('guardFor', () => {
  it.each([
    ['/health', 'open'],
    ['/admin/stats', 'admin'],
    ['/admin/reload', 'admin'],
    ['/metrics', 'admin'],
    ['/v1/models', 'api'],
    ['/v1/chat/completions', 'api'],
    ['/health/extra', 'api'],
    ['/healthz', 'api'],
    ['/', 'api'],
    [undefined, 'api'],
  ] as const)('%s → %s', (url, guard) => {
    expect(guardFor(url)).toBe(guard);
  });
});

describe('keyMatches', () => {
  it.each([
    ['the right key', 'sk-gateway-1', 'sk-gateway-1', true],
    ['a wrong key of the same length', 'sk-gateway-2', 'sk-gateway-1', false],
    ['a prefix of the key', 'sk-gateway', 'sk-gateway-1', false],
    ['a longer key', 'sk-gateway-12', 'sk-gateway-1', false],
    ['a different case', 'SK-GATEWAY-1', 'sk-gateway-1', false],
    ['null', null, 'sk-gateway-1', false],
    ['null against empty', null, '', false],
    ['empty against empty', '', '', true],
    ['empty against a key', '', 'sk-gateway-1', false],
    ['a key against empty', 'sk-gateway-1', '', false],
  ] as const)('%s → %s', (_label, presented, expected, result) => {
    expect(keyMatches(presented, expected)).toBe(result);
  });
});

describe('presentedKey', () => {
  it.each([
    ['Authorization: Bearer k', { authorization: 'Bearer k' }, 'k'],
    ['lower-case scheme', { authorization: 'bearer sk-abc' }, 'sk-abc'],
    ['upper-case scheme', { authorization: 'BEARER sk-abc' }, 'sk-abc'],
    ['extra spaces', { authorization: '  Bearer    sk-abc  ' }, 'sk-abc'],
    ['x-api-key', { 'x-api-key': 'sk-xyz' }, 'sk-xyz'],
    ['Bearer wins over x-api-key', { authorization: 'Bearer sk-bearer', 'x-api-key': 'sk-x' }, 'sk-bearer'],
    ['Basic is ignored', { authorization: 'Basic dXNlcjpwYXNz' }, null],
    ['Basic is ignored, x-api-key still read', { authorization: 'Basic dXNlcjpwYXNz', 'x-api-key': 'sk-x' }, 'sk-x'],
    ['Bearer without a key', { authorization: 'Bearer ' }, null],
    ['a bare key without scheme', { authorization: 'sk-abc' }, null],
    ['empty x-api-key', { 'x-api-key': '' }, null],
    ['no headers', {}, null],
    ['x-api-key given twice (array)', { 'x-api-key': ['a', 'b'] }, null],
  ] as const)('%s → %s', (_label, headers, key) => {
    expect(presentedKey(req(headers))).toBe(key);
  });
});

describe('parseLevel', () => {
  it.each([
    ['debug', 'debug'],
    ['info', 'info'],
    ['warn', 'warn'],
    ['error', 'error'],
    ['DEBUG', 'debug'],
    ['INFO', 'info'],
    ['WARNING', 'warn'],
    ['warning', 'warn'],
    ['ERROR', 'error'],
    ['CRITICAL', 'fatal'],
    [' Info ', 'info'],
    [undefined, 'info'],
    ['verbose', null],
    ['', null],
    ['warnings', null],
  ] as const)('%j → %s', (value, level) => {
    expect(parseLevel(value)).toBe(level);
  });
});

describe('createLogger', () => {
  function capture(level: 'debug' | 'info' | 'warn' = 'info') {
    const lines: string[] = [];
    const log = createLogger({ level, stdout: false, extra: { write: (s: string) => void lines.push(s) } });
    return { lines, log, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
  }

  it('writes each line synchronously as one JSON object ending in a newline', () => {
    const { lines, log, parsed } = capture();
    log.logger.info({ requestId: 'r1' }, 'hello');
    expect(lines).toHaveLength(1);
    expect(lines[0]?.endsWith('\n')).toBe(true);
    expect(lines[0]?.trimEnd().includes('\n')).toBe(false);
    const [line] = parsed();
    expect(line).toMatchObject({ level: 'INFO', msg: 'hello', requestId: 'r1' });
    expect(typeof line?.time).toBe('string');
    expect(Number.isNaN(Date.parse(String(line?.time)))).toBe(false);
    expect(line).not.toHaveProperty('pid');
    expect(line).not.toHaveProperty('hostname');
  });

  it('levels are the words INFO, WARNING, ERROR, CRITICAL', () => {
    const { log, parsed } = capture();
    log.logger.info('i');
    log.logger.warn('w');
    log.logger.error('e');
    log.logger.fatal('f');
    expect(parsed().map((l) => [l.level, l.msg])).toEqual([
      ['INFO', 'i'],
      ['WARNING', 'w'],
      ['ERROR', 'e'],
      ['CRITICAL', 'f'],
    ]);
  });

  it('debug lines are dropped at level info and kept at level debug', () => {
    const info = capture('info');
    info.log.logger.debug('hidden');
    info.log.logger.info('shown');
    expect(info.parsed().map((l) => l.msg)).toEqual(['shown']);

    const debug = capture('debug');
    debug.log.logger.debug('visible');
    expect(debug.parsed().map((l) => [l.level, l.msg])).toEqual([['DEBUG', 'visible']]);
  });

  it('info lines are dropped at level warn', () => {
    const { log, parsed } = capture('warn');
    log.logger.info('no');
    log.logger.warn('yes');
    expect(parsed().map((l) => l.msg)).toEqual(['yes']);
  });

  it('after setSecrets, a key anywhere in a line (message, field, nested field, error) shows [REDACTED]', () => {
    const { lines, log, parsed } = capture();
    const key = 'sk-very-secret-123';
    log.setSecrets([key]);
    log.logger.info(`calling with ${key} now`);
    log.logger.info({ apiKey: key }, 'field');
    log.logger.info({ headers: { authorization: `Bearer ${key}` }, list: [key, 'x'] }, 'nested');
    log.logger.error({ err: new Error(`upstream rejected ${key}`) }, 'failed');
    log.logger.warn({ url: `https://h.example/v1?key=${key}&${key}` }, 'twice');
    expect(lines).toHaveLength(5);
    const text = lines.join('');
    expect(text).not.toContain(key);
    expect(text).not.toContain('very-secret');
    const [l1, l2, l3, l4, l5] = parsed();
    expect(l1?.msg).toBe('calling with [REDACTED] now');
    expect(l2?.apiKey).toBe('[REDACTED]');
    expect(l3).toMatchObject({ headers: { authorization: 'Bearer [REDACTED]' }, list: ['[REDACTED]', 'x'] });
    expect((l4?.err as { message?: string }).message).toBe('upstream rejected [REDACTED]');
    expect(l5?.url).toBe('https://h.example/v1?key=[REDACTED]&[REDACTED]');
  });

  it('lines logged before setSecrets are not scrubbed; setSecrets replaces the previous list', () => {
    const { lines, log } = capture();
    log.logger.info('before sk-very-secret-123');
    log.setSecrets(['sk-very-secret-123']);
    log.logger.info('during sk-very-secret-123');
    log.setSecrets(['sk-other-secret-456']);
    log.logger.info('after sk-very-secret-123 sk-other-secret-456');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
      'before sk-very-secret-123',
      'during [REDACTED]',
      'after sk-very-secret-123 [REDACTED]',
    ]);
  });

  it('a key that contains another is scrubbed whole (longest first)', () => {
    const { log, parsed } = capture();
    log.setSecrets(['sk-very-secret', 'sk-very-secret-123-long']);
    log.logger.info('a sk-very-secret-123-long b sk-very-secret c');
    expect(parsed()[0]?.msg).toBe('a [REDACTED] b [REDACTED] c');
  });

  // Lines are JSON, so a secret with a character JSON escapes appears escaped: both forms are scrubbed.
  it('a secret containing a quote, a backslash or a tab is scrubbed too', () => {
    const { lines, log, parsed } = capture();
    log.setSecrets(['sk-a"b\\c-123', 'tok\tsecret-9']);
    log.logger.info({ h: 'tok\tsecret-9' }, 'key sk-a"b\\c-123');
    expect(parsed()[0]).toMatchObject({ msg: 'key [REDACTED]', h: '[REDACTED]' });
    expect(lines.join('')).not.toContain('secret-9');
  });

  it('secrets shorter than 6 characters are not scrubbed (they would mangle ordinary text)', () => {
    const { log, parsed } = capture();
    log.setSecrets(['abc', 'INFO']);
    log.logger.info('abc INFO');
    expect(parsed()[0]).toMatchObject({ level: 'INFO', msg: 'abc INFO' });
  });
});
