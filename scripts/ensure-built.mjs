// Makes a fresh clone runnable: installs dependencies when package-lock.json is newer than what
// is installed, and compiles TypeScript when a source file is newer than the last build.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const installed = join(root, 'node_modules', '.package-lock.json');
if (mtime(installed) < mtime(join(root, 'package-lock.json'))) {
  console.log('[setup] installing dependencies (npm ci)');
  execFileSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

function newest(dir) {
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    max = Math.max(max, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return max;
}
const built = Math.min(mtime(join(root, 'dist', '.tsbuildinfo')), mtime(join(root, 'dist', 'web', 'index.html')));
const sources = Math.max(
  newest(join(root, 'src')), newest(join(root, 'tools')), newest(join(root, 'web')),
  mtime(join(root, 'tsconfig.json')), mtime(join(root, 'tsconfig.web.json')),
);
if (built < sources) {
  console.log('[setup] building (TypeScript and the dashboard)');
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
}
