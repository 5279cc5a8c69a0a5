// The yardstick: the least a Node.js TLS reverse proxy can do. It terminates
// TLS with the same certificate as the guard, drops hop-by-hop headers (RFC 9110
// section 7.6.1) and streams both ways through an undici Pool. No logging, no
// policies, no metrics: whatever the guard costs beyond this is its own work.
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    upstream: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    ca: { type: 'string' },
  },
});
if (!values.upstream || !values.cert || !values.key || !values.ca) {
  throw new Error('usage: minimal-proxy.ts --upstream URL --cert FILE --key FILE --ca FILE');
}

const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

// The guard's pool size, so both proxies reach the upstream the same way.
const pool = new Pool(values.upstream, { connections: 128, pipelining: 1 });

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const kept: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!hopByHop.has(name)) kept[name] = value;
  }
  return kept;
}

function forward(req: IncomingMessage, res: ServerResponse): void {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'];
  if (!hasBody) req.resume();
  const options = {
    path: req.url ?? '/',
    method: (req.method ?? 'GET') as 'GET',
    headers: endToEnd(req.headers),
    body: hasBody ? req : null,
  };
  const relay = ({ statusCode, headers }: { statusCode: number; headers: IncomingHttpHeaders }) =>
    res.writeHead(statusCode, endToEnd(headers));

  pool.stream(options, relay, (error) => {
    if (!error) return;
    if (res.headersSent) res.destroy();
    else res.writeHead(502, { 'content-length': '0' }).end();
  });
}

// Leaf then CA, the chain the guard sends too.
const cert = `${readFileSync(values.cert, 'utf8').trim()}\n${readFileSync(values.ca, 'utf8')}`;
const server = createServer({ cert, key: readFileSync(values.key) }, forward);

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
});

process.on('SIGTERM', () => process.exit(0));
