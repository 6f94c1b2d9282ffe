// The floor of any Node.js proxy: node:http in, undici's keep-alive pool out, the body passed
// through with no parsing, routing, logging or accounting. What the gateway adds is measured
// against this as well as against nginx.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [upstream, port] = process.argv.slice(2);
const u = new URL(upstream);
const pool = new Pool(u.origin, { connections: null, pipelining: 1 });
createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  try {
    const r = await pool.request({ method: 'POST', path: u.pathname + req.url.replace(/^\/v1/, ''), headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) });
    res.writeHead(r.statusCode, { 'content-type': r.headers['content-type'] ?? 'application/json' });
    for await (const c of r.body) res.write(c);
    res.end();
  } catch {
    res.writeHead(502).end();
  }
}).listen(Number(port), '127.0.0.1');
