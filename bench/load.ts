// The load generator, run by run.ts as its own process (pinned to its own core
// when taskset is there). Drives autocannon for a bounded time and prints one
// JSON line with the figures run.ts needs.
//
// autocannon 9 opens every TLS connection with rejectUnauthorized: false and
// offers no way to change that, so this script checks each connection itself:
// the CA is passed to autocannon, and a connection whose chain or name does not
// verify against it is destroyed and fails the run.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import type { Autocannon, AutocannonClient } from './autocannon-types.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    method: { type: 'string', default: 'GET' },
    'body-bytes': { type: 'string', default: '0' },
    ca: { type: 'string' },
    servername: { type: 'string' },
  },
});
if (!values.url) throw new Error('load.ts needs --url');

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
const tls = { verified: 0, failed: 0, lastError: '', negotiated: '' };

function verifyEveryConnection(client: AutocannonClient): void {
  const checked = new WeakSet<object>();
  // autocannon emits "request" right after it opens a connection, before the
  // handshake can have finished, so every connection gets checked.
  client.on('request', () => {
    const socket = client.conn;
    if (!(socket instanceof TLSSocket) || checked.has(socket)) return;
    checked.add(socket);
    socket.once('secureConnect', () => {
      if (socket.authorized) {
        tls.verified += 1;
        tls.negotiated ||= `${socket.getProtocol()} ${socket.getCipher().standardName}`;
        return;
      }
      tls.failed += 1;
      tls.lastError = String(socket.authorizationError);
      socket.destroy();
    });
  });
}

const bodyBytes = Number(values['body-bytes']);
const result = await autocannon({
  url: values.url,
  connections: Number(values.connections),
  duration: Number(values.seconds),
  method: values.method,
  ...(bodyBytes > 0
    ? {
        body: Buffer.alloc(bodyBytes, 'b'),
        headers: { 'content-type': 'application/octet-stream' },
      }
    : {}),
  ...(values.ca
    ? {
        tlsOptions: { ca: readFileSync(values.ca) },
        servername: values.servername,
        setupClient: verifyEveryConnection,
      }
    : {}),
});

const summary = {
  requests: result.requests.total,
  seconds: result.duration,
  latencyP50Ms: result.latency.p50,
  latencyP99Ms: result.latency.p99,
  errors: result.errors,
  timeouts: result.timeouts,
  non2xx: result.non2xx,
  tls,
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exitCode = tls.failed > 0 ? 3 : 0;
