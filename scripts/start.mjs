// `npm start`: runs the gateway with CONFIG_PATH (default config/provider.json).
// When that configuration points a provider at the demo upstream (http://127.0.0.1:6011), as
// the shipped demo file does, the upstream double is started beside the gateway first, so the
// demo answers with no real provider. With any other configuration only the gateway runs.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const DEMO_UPSTREAM = 'http://127.0.0.1:6011/';
const configPath = process.env.CONFIG_PATH || 'config/provider.json';

function usesDemoUpstream() {
  try {
    const config = JSON.parse(readFileSync(configPath, 'utf8'));
    return Object.entries(config).some(([name, model]) =>
      !name.startsWith('_') && Array.isArray(model?.providers) &&
      model.providers.some((p) => typeof p?.endpoint === 'string' && p.endpoint.startsWith(DEMO_UPSTREAM)));
  } catch {
    return false; // the gateway itself reports what is wrong with the file
  }
}

function waitForPort(port, deadline = Date.now() + 10_000) {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(); });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on 127.0.0.1:${port}`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

const children = [];
if (usesDemoUpstream()) {
  console.log('[demo] the configuration uses the demo upstream: starting the upstream double on http://127.0.0.1:6011');
  const double = spawn(process.execPath, [join(root, 'dist/tools/upstream-double.js'), '--port', '6011'], { stdio: 'inherit' });
  children.push(double);
  await waitForPort(6011);
}
const gateway = spawn(process.execPath, [join(root, 'dist/src/main.js')], { stdio: 'inherit' });
children.push(gateway);

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => gateway.kill(signal));
}
gateway.on('exit', (code, signal) => {
  for (const child of children) if (child !== gateway && child.exitCode === null) child.kill('SIGTERM');
  process.exit(code ?? (signal ? 1 : 0));
});
