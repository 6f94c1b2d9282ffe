import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { routeNotFound } from '../errors.js';

/** The dashboard's static files, built into `dist/web` by the project's build; read once. */
const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'styles.css': 'text/css; charset=utf-8',
};

/** `keyRequired`: whether the page must ask for a key before it reads anything. */
export function registerDashboard(app: FastifyInstance, keyRequired: () => boolean): void {
  // dist/src/server → dist/web; from the sources (tests) src/server → dist/web too.
  const dir = new URL(import.meta.url.includes('/dist/src/') ? '../../web/' : '../../dist/web/', import.meta.url);
  const files = new Map<string, Buffer>();
  for (const name of Object.keys(FILES)) {
    try {
      files.set(name, readFileSync(new URL(name, dir)));
    } catch {
      /* not built: answered with 404 below */
    }
  }
  const serve = (name: string) => async (_request: unknown, reply: { header(k: string, v: string): typeof reply; send(b: Buffer): unknown }) => {
    const body = files.get(name);
    if (!body) throw routeNotFound('GET', `/admin/ui (the dashboard is not built: npm run build)`);
    reply.header('content-type', FILES[name]!).header('cache-control', 'no-cache')
      .header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
      .header('x-content-type-options', 'nosniff');
    return reply.send(body);
  };
  app.get('/admin/ui', serve('index.html'));
  app.get('/admin/ui/session', async () => ({ keyRequired: keyRequired() }));
  app.get('/admin/ui/app.js', serve('app.js'));
  app.get('/admin/ui/styles.css', serve('styles.css'));
}
