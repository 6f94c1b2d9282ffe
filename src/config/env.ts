/** The environment variables of SPEC §6 and what each means when unset. */
export const ENV_DEFAULTS = {
  PORT: '6010',
  HOST: '0.0.0.0',
  CONFIG_PATH: 'config/provider.json',
  DATA_DIR: 'data',
  LOG_DIR: 'logs',
  LOG_LEVEL: 'info',
  TZ: 'UTC',
  /** Seconds that requests and streams in flight get to finish at SIGTERM. */
  SHUTDOWN_TIMEOUT: '30',
} as const;

export type EnvName = keyof typeof ENV_DEFAULTS;

/** The variable's value, or its default when unset or empty. */
export function envOr(env: Readonly<Record<string, string | undefined>>, name: EnvName): string {
  const v = env[name];
  return v === undefined || v === '' ? ENV_DEFAULTS[name] : v;
}
