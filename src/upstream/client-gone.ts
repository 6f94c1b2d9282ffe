import { EventEmitter } from 'node:events';

/**
 * Says when the client of a request left, to stop its upstream request and retries: what an
 * AbortController does, as a plain event emitter (undici accepts either), without the
 * EventTarget machinery an AbortController costs on every request.
 */
export class ClientGone extends EventEmitter {
  aborted = false;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  }

  /** Waits `ms`; resolves false at once (and early) when the client is gone, else true. */
  sleep(ms: number): Promise<boolean> {
    if (this.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const gone = (): void => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.off('abort', gone);
        resolve(true);
      }, ms);
      this.once('abort', gone);
    });
  }
}
