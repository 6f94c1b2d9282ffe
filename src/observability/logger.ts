import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type DestinationStream, type Level } from 'pino';

export type Logger = pino.Logger;

const BATCH_BYTES = 4096;
const FLUSH_MS = 200;

/** `,"time":"<ISO>"`, made once per millisecond: under load many lines share one. */
let lastMs = -1;
let lastTime = '';
function isoTimestamp(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/** Levels as operators grep for them (the first version's words). */
const WORDS: Readonly<Record<string, string>> = {
  trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL',
};

/** `LOG_LEVEL` as the first version spelled it (DEBUG/INFO/WARNING/ERROR) or as pino does. */
export function parseLevel(value: string | undefined): Level | null {
  const v = (value ?? 'info').trim().toLowerCase();
  if (v === 'warning') return 'warn';
  if (v === 'critical') return 'fatal';
  return (['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const).find((l) => l === v) ?? null;
}

export interface LoggerOptions {
  level: Level;
  /** Also write to `<logDir>/gateway.log`. */
  logDir?: string;
  /** Write to stdout (default true). */
  stdout?: boolean;
  /** Another destination, e.g. a test's capture. */
  extra?: DestinationStream;
}

/** Where a logger made by createLogger takes lines that are already JSON (see `preparedLine`). */
const PREPARED = Symbol('gateway.preparedLine');
const LEVEL_VALUES = { info: 30, warn: 40, error: 50 } as const;

/**
 * One line whose fields are already JSON text (`"reqId":"…",…,"msg":"…"`, no braces), written
 * exactly as pino would write them (level word, time, then the fields), through the same secret
 * scrubber and destinations. The lines every request writes take this way: serializing a known
 * shape by hand costs a fraction of pino's generic walk over the object.
 */
export function preparedLine(logger: Logger, level: keyof typeof LEVEL_VALUES, fields: string): void {
  if (logger.levelVal > LEVEL_VALUES[level]) return;
  const write = (logger as unknown as { [PREPARED]?: (line: string) => void })[PREPARED];
  if (write) write(`{"level":"${WORDS[level]}"${isoTimestamp()},${fields}}\n`);
  else logger[level](JSON.parse(`{${fields}}`) as object);
}

export interface GatewayLogger {
  logger: Logger;
  /** The secrets to scrub from every line from now on (replaced at each config load). */
  setSecrets(secrets: readonly string[]): void;
  flush(): void;
  /** Reopens `gateway.log` (after logrotate moved it away: SIGUSR2). */
  reopen(): void;
}

/**
 * JSON lines to stdout and `LOG_DIR/gateway.log`. Every line passes one scrubber that replaces
 * each configured key by `[REDACTED]`, so no code path can leak a secret into a log by mistake.
 */
export function createLogger(opts: LoggerOptions): GatewayLogger {
  let secrets: readonly string[] = [];
  const streams: DestinationStream[] = [];
  const sonic: Array<{ flushSync(): void }> = [];
  let file: { reopen(): void } | null = null;
  if (opts.stdout !== false) {
    const out = pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES });
    sonic.push(out);
    streams.push(out);
  }
  if (opts.logDir) {
    mkdirSync(opts.logDir, { recursive: true });
    const dest = pino.destination({ dest: join(opts.logDir, 'gateway.log'), sync: false, mkdir: true, minLength: BATCH_BYTES });
    file = dest;
    sonic.push(dest);
    streams.push(dest);
  }
  if (opts.extra) streams.push(opts.extra);

  // Lines are written in batches (one write per ~4 KiB instead of one per line, which under load
  // cost more than the rest of the request path), and at least every FLUSH_MS so a quiet
  // gateway's lines still show up at once.
  const timer = setInterval(() => {
    for (const s of sonic) (s as unknown as { flush(cb?: () => void): void }).flush(() => undefined);
  }, FLUSH_MS);
  timer.unref();
  const scrub = (line: string): string => {
    for (const s of secrets) if (line.includes(s)) line = line.replaceAll(s, '[REDACTED]');
    return line;
  };
  // Every line goes to every destination: a plain fan-out, cheaper than pino.multistream's
  // per-stream level bookkeeping, which this logger does not need.
  const fanOut = (line: string): void => {
    for (const s of streams) s.write(line);
  };
  const logger = pino(
    {
      level: opts.level,
      base: null,
      timestamp: isoTimestamp,
      formatters: { level: (label) => ({ level: WORDS[label] ?? label.toUpperCase() }) },
      hooks: { streamWrite: scrub },
    },
    { write: fanOut },
  );
  Object.defineProperty(logger, PREPARED, { value: (line: string) => fanOut(scrub(line)) });
  return {
    logger,
    setSecrets: (list) => {
      // Longest first, so a key that contains another is scrubbed whole.
      // Lines are JSON: a secret with a quote, backslash or control character appears escaped.
      const forms = list.filter((s) => s.length >= 6).flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]);
      secrets = [...new Set(forms)].sort((a, b) => b.length - a.length);
    },
    reopen: () => file?.reopen(),
    flush: () => {
      for (const s of sonic) {
        try {
          s.flushSync();
        } catch {
          /* not ready yet, or already closed */
        }
      }
    },
  };
}
