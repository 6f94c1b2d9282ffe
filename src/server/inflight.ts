/**
 * The work of requests in flight (proxying, and the usage accounting after a reply), so that a
 * shutdown waits for it before it closes the usage store: a stream cut at the shutdown deadline
 * still has its tokens recorded.
 */
export class Inflight {
  private readonly pending = new Set<Promise<unknown>>();

  track<T>(work: Promise<T>): Promise<T> {
    this.pending.add(work);
    const done = (): void => void this.pending.delete(work);
    work.then(done, done);
    return work;
  }

  /** Waits until everything tracked has finished, or `ms` have passed. */
  async settle(ms: number): Promise<void> {
    if (this.pending.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    const all = (async () => {
      while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    })();
    await Promise.race([all, timeout]);
    clearTimeout(timer);
  }
}
