import { createServer, type Server } from 'node:http';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientGone } from '../../src/upstream/client-gone.js';

describe('ClientGone', () => {
  it('sleep resolves true after the wait, false at once when the client leaves, and leaves no listener behind', async () => {
    const gone = new ClientGone();
    const t0 = performance.now();
    expect(await gone.sleep(30)).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(gone.listenerCount('abort')).toBe(0);
    const waiting = gone.sleep(10_000);
    setTimeout(() => gone.abort(), 20);
    const t1 = performance.now();
    expect(await waiting).toBe(false);
    expect(performance.now() - t1).toBeLessThan(1000);
    expect(gone.listenerCount('abort')).toBe(0);
    expect(gone.aborted).toBe(true);
    expect(await gone.sleep(10_000)).toBe(false);
  });

  it('abort fires once, however often it is called', () => {
    const gone = new ClientGone();
    let fired = 0;
    gone.on('abort', () => fired++);
    gone.abort();
    gone.abort();
    expect(fired).toBe(1);
  });

  describe('as the signal of an undici request', () => {
    let server: Server;
    let url = '';
    beforeAll(async () => {
      // Answers its head, then never ends the body.
      server = createServer((_, res) => res.writeHead(200).write('x'));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    });
    afterAll(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));

    it('stops a request waiting for its head, and one reading its body', async () => {
      const pool = new Pool(url);
      try {
        const before = new ClientGone();
        before.abort();
        await expect(pool.request({ method: 'GET', path: '/', signal: before })).rejects.toMatchObject({ code: 'UND_ERR_ABORTED' });
        const during = new ClientGone();
        const res = await pool.request({ method: 'GET', path: '/', signal: during });
        const read = res.body.text();
        setTimeout(() => during.abort(), 20);
        await expect(read).rejects.toMatchObject({ code: 'UND_ERR_ABORTED' });
        expect(during.listenerCount('abort')).toBe(0);
      } finally {
        await pool.destroy();
      }
    });
  });
});
