import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { jsonSyntaxError, parseConfig } from '../../src/config/load.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/check-config.js');

function errorsOf(text: string): string[] {
  const r = parseConfig(text, { env: {}, tz: 'UTC' });
  if (r.ok) throw new Error('expected the config to be refused');
  return r.errors;
}

/** Every run of 3+ characters of the file that is not JSON punctuation or whitespace, in the error, is a leak. */
function fragmentsOf(text: string): string[] {
  return text.split(/[\s{}[\]:,"]+/).filter((w) => w.length >= 3);
}

const SECRET_FILE = '{\n  "_global": {\n    "api_key": sk-live-SECRET123\n  }\n}\n';

describe('a config that is not JSON is reported by line and column, quoting nothing of the file', () => {
  it('a bare secret-looking word: line, column and the kind of error, without the word', () => {
    const errors = errorsOf(SECRET_FILE);
    expect(errors).toEqual(['config is not valid JSON: a bare word where a value is expected (strings need double quotes) at line 3, column 16']);
    for (const fragment of [...fragmentsOf(SECRET_FILE), 'SECRET123', 'sk-live', 'api_key', '_global']) {
      expect(errors[0]).not.toContain(fragment);
    }
  });

  // Each case: the text, where the error is (line, column, 1-based), and its kind.
  it.each([
    ['bare key', '{\n  model: {"providers": []}\n}', 2, 3, 'a property name must be in double quotes'],
    ['single-quoted key', "{'m': 1}", 1, 2, 'a property name must be in double quotes'],
    ['trailing comma in an object', '{"m": {"providers": [],}}', 1, 24, "a comma before '}' (trailing commas are not allowed)"],
    ['trailing comma in an array', '{"m": {"providers": [1, ]}}', 1, 25, "a comma before ']' (trailing commas are not allowed)"],
    ['single-quoted value', "{\"a\": 'x'}", 1, 7, 'a string in single quotes (JSON needs double quotes)'],
    ['missing comma', '{"a": 1\n "b": 2}', 2, 2, "expected ',' or '}' after a property value"],
    ['missing colon', '{"a" 1}', 1, 6, "expected ':' after a property name"],
    ['unterminated string', '{"a": "sk-secret-value', 1, 7, 'unterminated string'],
    ['line break inside a string', '{"a": "one\ntwo"}', 1, 11, 'control character in a string (a line break inside quotes?)'],
    ['bad escape', '{"a": "C:\\Users"}', 1, 10, 'invalid escape in a string'],
    ['bad \\u escape', '{"a": "\\u12G4"}', 1, 8, 'invalid escape in a string'],
    ['leading zero', '{"a": 0123}', 1, 8, 'invalid number'],
    ['fraction without digits', '{"a": 1.}', 1, 9, 'invalid number'],
    ['minus alone', '{"a": -}', 1, 8, 'invalid number'],
    ['misspelt literal', '{"a": tru}', 1, 7, 'a bare word where a value is expected (strings need double quotes)'],
    ['a word that starts like a literal', '{"a": null-SECRET}', 1, 7, 'a bare word where a value is expected (strings need double quotes)'],
    ['comment', '{"a": 1 // retry\n}', 1, 9, "expected ',' or '}' after a property value"],
    ['second value', '{"a": 1} {"b": 2}', 1, 10, 'unexpected content after the end of the JSON value'],
    ['cut short', '{"a": {"b": [1, 2', 1, 18, 'unexpected end of the file'],
    ['empty file', '', 1, 1, 'unexpected end of the file'],
    ['CRLF lines', '{\r\n  "a": 1,\r\n  b: 2\r\n}', 3, 3, 'a property name must be in double quotes'],
    ['byte order mark', '\uFEFF{"a": 1}', 1, 1, 'unexpected character where a value is expected'],
  ])('%s', (_name, text, line, column, kind) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(errorsOf(text)).toEqual([`config is not valid JSON: ${kind} at line ${line}, column ${column}`]);
  });

  it('valid JSON has no syntax error, however it is laid out', () => {
    for (const text of ['{}', ' [1, -0.5e+3, "a\\n\\u00e9\\"", true, false, null, {"x": []}] ', '"\u2028"', '0', '-12.5E-2']) {
      expect(() => JSON.parse(text)).not.toThrow();
      expect(jsonSyntaxError(text)).toBeNull();
    }
  });

  // Mutations of a real config (a character deleted, doubled or replaced by one that breaks JSON):
  // the scanner finds an error exactly when JSON.parse does.
  it('agrees with JSON.parse on 3,000 mutations of the shipped config', () => {
    const base = readFileSync(join(import.meta.dirname, '../../config/provider.json'), 'utf8');
    const breakers = ['"', "'", ',', ':', '{', '}', '[', ']', '\\', '\n', '0', '-', '.', 'e', 'x', ' ', '\t', '\u0001', '/'];
    let seed = 12345;
    const rand = (k: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % k);
    let broken = 0;
    for (let t = 0; t < 3000; t++) {
      const at = rand(base.length);
      const op = rand(3);
      const ch = breakers[rand(breakers.length)]!;
      const text = op === 0 ? base.slice(0, at) + base.slice(at + 1) : op === 1 ? base.slice(0, at) + ch + base.slice(at) : base.slice(0, at) + ch + base.slice(at + 1);
      let parses = true;
      try {
        JSON.parse(text);
      } catch {
        parses = false;
      }
      broken += parses ? 0 : 1;
      expect({ text, scanned: jsonSyntaxError(text) === null }).toEqual({ text, scanned: parses });
    }
    expect(broken).toBeGreaterThan(1000);
  });

  it('a file nested very deeply is scanned without overflowing the stack', () => {
    const text = `${'['.repeat(200_000)}x`;
    expect(jsonSyntaxError(text)).toEqual({ line: 1, column: 200_001, kind: 'a bare word where a value is expected (strings need double quotes)' });
  });

  it('npm run check-config prints the same line, without the secret', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'gw-json-')), 'provider.json');
    writeFileSync(path, SECRET_FILE);
    const r = await promisify(execFile)(process.execPath, [CLI, path], { env: { PATH: process.env.PATH ?? '' } }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${path}: INVALID, 1 error(s):\n  - config is not valid JSON: a bare word where a value is expected (strings need double quotes) at line 3, column 16\n`);
    expect(r.stderr).not.toContain('SECRET123');
  });
});
