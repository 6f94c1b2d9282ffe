// The project's build: the gateway (src, tools) and the dashboard (web) with TypeScript, then the
// dashboard's static files next to its script in dist/web.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
for (const project of ['tsconfig.json', 'tsconfig.web.json']) {
  execFileSync(process.execPath, [tsc, '-p', join(root, project)], { cwd: root, stdio: 'inherit' });
}
mkdirSync(join(root, 'dist', 'web'), { recursive: true });
for (const file of ['index.html', 'styles.css']) copyFileSync(join(root, 'web', file), join(root, 'dist', 'web', file));
