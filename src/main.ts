import { buildApp } from './app.js';
import { envOr } from './config/env.js';
import { loadConfigFile } from './config/load.js';
import { createLogger, parseLevel } from './observability/logger.js';
import { SqliteStore } from './usage/sqlite-store.js';
import type { UsageStore } from './usage/store.js';
import { join } from 'node:path';

/** Reads the environment, builds the gateway, listens, and wires signals. Nothing else. */
async function main(): Promise<void> {
  const env = process.env;
  process.env.TZ = envOr(env, 'TZ');
  const tz = process.env.TZ;
  const fail = (message: string): never => {
    process.stderr.write(`ERROR ${message}\n`);
    process.exit(1);
  };
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    fail(`TZ: unknown time zone "${tz}"`);
  }
  const level = parseLevel(envOr(env, 'LOG_LEVEL')) ?? fail(`LOG_LEVEL: expected debug, info, warn or error, got "${env.LOG_LEVEL}"`);
  const port = Number(envOr(env, 'PORT'));
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT: not a port number: "${env.PORT}"`);
  const host = envOr(env, 'HOST');
  const configPath = envOr(env, 'CONFIG_PATH');
  const logDir = envOr(env, 'LOG_DIR');
  const dataDir = envOr(env, 'DATA_DIR');

  const log = createLogger({ level, logDir });
  const loaded = await loadConfigFile(configPath, { env, tz });
  if (!loaded.ok) {
    log.logger.error({ errors: loaded.errors }, `ERROR invalid configuration ${configPath}`);
    log.flush();
    fail(`invalid configuration ${configPath}:\n  ${loaded.errors.join('\n  ')}`);
    return;
  }
  let store: UsageStore;
  if (env.REDIS_URL) {
    // Loaded only when used: the Redis client is a fifth of the gateway's memory at rest.
    const { RedisStore } = await import('./usage/redis-store.js');
    let redis: InstanceType<typeof RedisStore>;
    try {
      redis = new RedisStore(env.REDIS_URL);
    } catch (err) {
      // A malformed REDIS_URL: its message names the shape expected, never the URL (it may hold a password).
      log.logger.error(`ERROR ${(err as Error).message}`);
      log.flush();
      fail((err as Error).message);
      return;
    }
    // Serve even if Redis is down at start: /health says 503, limited providers wait for it.
    await redis.ready().catch(() => log.logger.error('ERROR usage store: Redis is not reachable yet; providers with a quota are skipped until it is'));
    store = redis;
  } else {
    try {
      store = new SqliteStore(join(dataDir, 'usage.db'), {
        onFlushError: (err) => log.logger.error({ err: err.message }, 'ERROR usage store: writing usage to disk failed, will retry'),
      });
    } catch (err) {
      log.logger.error(`ERROR ${(err as Error).message}`);
      log.flush();
      fail((err as Error).message);
      return;
    }
  }
  const graceSeconds = Number(envOr(env, 'SHUTDOWN_TIMEOUT'));
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) fail(`SHUTDOWN_TIMEOUT: expected seconds, got "${env.SHUTDOWN_TIMEOUT}"`);
  const { app, state } = buildApp({ config: loaded.config, log, store, tz, configPath, env });
  const g = loaded.config.global;
  if (!g.api_key && !isLoopback(host)) {
    // Not a refusal: the first version's files (api_key "") must keep working on the default
    // HOST, as must the demo and the Docker image; see README, Security.
    process.stderr.write(openGatewayWarning(host, port, Boolean(g.admin_key)));
    log.logger.warn({ host, port, adminKey: Boolean(g.admin_key) },
      `No gateway api_key is set and the gateway listens on ${host}: anyone who can reach it can use your providers${g.admin_key ? '' : ', reset usage and reload the configuration'}`);
  }

  // SIGTERM/SIGINT: stop accepting, say "draining" on /health, let requests and streams in
  // flight finish (at most SHUTDOWN_TIMEOUT seconds), write the usage, exit 0.
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    state.draining = true;
    log.logger.info(`Received ${signal}, draining (at most ${graceSeconds} s)`);
    const force = setTimeout(() => {
      log.logger.warn('Shutdown grace period over: closing the connections still open');
      app.server.closeAllConnections();
    }, graceSeconds * 1000);
    force.unref();
    // A keep-alive connection whose last response ends while draining is closed as soon as it
    // is idle, instead of holding the shutdown until its keep-alive timeout.
    const idle = setInterval(() => app.server.closeIdleConnections(), 100);
    idle.unref();
    void app.close().then(
      () => {
        log.logger.info('Stopped');
        log.flush();
        process.exit(0);
      },
      (err: Error) => {
        log.logger.error({ err: err.message }, 'ERROR during shutdown');
        log.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => void state.reload('SIGHUP'));
  process.on('SIGUSR2', () => log.reopen());
  state.watchConfig();

  await app.listen({ port, host });
  const models = [...loaded.config.models.keys()];
  log.logger.info({ port, host, configPath, models, store: store.kind }, `Gateway listening on ${host}:${port} with ${models.length} model(s), usage in ${store.kind}`);
}

function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^(?:::ffff:)?127(?:\.\d{1,3}){3}$/.test(h);
}

/** The banner for a gateway that anyone on its network can use: what is open, and how to close it. */
function openGatewayWarning(host: string, port: number, adminKey: boolean): string {
  const open = adminKey ? '/v1/* (your providers, their quotas and keys)' : 'every endpoint: /v1/* (your providers, their quotas and keys), /admin/* and /metrics';
  return [
    '',
    `!! WARNING: no gateway api_key is set, and the gateway listens on ${host}:${port}, beyond this machine.`,
    `!! Anyone who can reach that address can use ${open}.`,
    '!! Set _global.api_key (e.g. "${GATEWAY_KEY}", read from the environment) and restart, or listen on',
    '!! loopback only (HOST=127.0.0.1) behind something that authenticates. Web pages of other sites',
    '!! cannot drive it from a browser either way (cross-site writes get 403, non-JSON bodies 415).',
    '',
    '',
  ].join('\n');
}

await main();
