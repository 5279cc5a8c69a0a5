// The app stand-in: answers every request with the same 1 KiB body over
// HTTP/1.1 keep-alive, after reading whatever body came with it. Run as its own
// process by run.ts; prints one JSON line with its port once it listens.
import { createServer } from 'node:http';

const body = Buffer.alloc(1024, 'a');
const headers = {
  'content-type': 'text/plain; charset=utf-8',
  'content-length': String(body.length),
};

const server = createServer((req, res) => {
  // Answer only once the whole request body is in, as an app would.
  req.on('end', () => res.writeHead(200, headers).end(body));
  req.resume();
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
});

process.on('SIGTERM', () => process.exit(0));
