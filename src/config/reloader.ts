import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from '../observability/logger.js';
import { diffConfigs, type ConfigChanges } from './diff.js';
import { loadConfigFile, type GatewayConfig, type ParseOptions } from './load.js';

export type ReloadResult = { ok: true; changes: ConfigChanges } | { ok: false; errors: string[] };

export interface ReloaderDeps {
  path: string;
  options: () => ParseOptions;
  current: () => GatewayConfig;
  swap: (next: GatewayConfig) => void;
  logger: Logger;
}

/**
 * Rereads the configuration file and swaps it in when valid: by `POST /admin/reload`, SIGHUP or
 * a change of the file. Reloads run one at a time; a file that fails validation (a typo, or a
 * half-written save) is refused and the running configuration stays.
 */
export class Reloader {
  private queue: Promise<unknown> = Promise.resolve();
  private watcher: FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;

  constructor(private readonly deps: ReloaderDeps) {}

  reload(trigger: string): Promise<ReloadResult> {
    const run = this.queue.then(() => this.reloadNow(trigger));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Watches the file's folder (editors and `kubectl` replace files by renaming, which a watch
   * on the file itself would lose) and reloads once writes have been quiet for `quietMs`.
   */
  watch(quietMs = 300): void {
    const file = resolve(this.deps.path);
    const name = basename(file);
    try {
      this.watcher = watch(dirname(file), (_event, changed) => {
        if (changed !== null && changed !== name && changed !== `..data`) return;
        if (this.debounce) clearTimeout(this.debounce);
        this.debounce = setTimeout(() => void this.reload('file change'), quietMs);
        this.debounce.unref();
      });
      this.watcher.unref();
      this.watcher.on('error', (err) => this.deps.logger.error({ err: err.message }, 'ERROR config watch failed; reload with SIGHUP or POST /admin/reload'));
    } catch (err) {
      this.deps.logger.error({ err: (err as Error).message }, 'ERROR cannot watch the config file; reload with SIGHUP or POST /admin/reload');
    }
  }

  close(): void {
    this.watcher?.close();
    if (this.debounce) clearTimeout(this.debounce);
  }

  private async reloadNow(trigger: string): Promise<ReloadResult> {
    const { logger } = this.deps;
    const loaded = await loadConfigFile(this.deps.path, this.deps.options());
    if (!loaded.ok) {
      logger.error({ trigger, errors: loaded.errors }, `ERROR reload (${trigger}) refused, the running configuration stays: ${loaded.errors.length} error(s)`);
      return { ok: false, errors: loaded.errors };
    }
    const changes = diffConfigs(this.deps.current(), loaded.config);
    this.deps.swap(loaded.config);
    logger.info({ trigger, changes }, `Configuration reloaded (${trigger})`);
    return { ok: true, changes };
  }
}
