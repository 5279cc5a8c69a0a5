import { connect as tlsConnect } from 'node:tls';

export type RawResponse = { status: number; head: string; body: string; raw: string };

// Sends bytes exactly as given over TLS and collects everything until the
// guard closes the connection (or the timeout passes), for requests no
// well-behaved client library would send.
export function sendRaw(
  port: number,
  ca: Buffer,
  payload: string | Buffer,
  timeoutMs = 3000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      socket.write(payload);
    });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.end(), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

export function parseResponses(raw: string): RawResponse[] {
  const responses: RawResponse[] = [];
  let rest = raw;
  while (rest.startsWith('HTTP/1.1 ')) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd === -1) break;
    const head = rest.slice(0, headEnd);
    const status = Number(head.slice(9, 12));
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    const body = rest.slice(headEnd + 4, headEnd + 4 + length);
    responses.push({ status, head, body, raw: rest.slice(0, headEnd + 4 + length) });
    rest = rest.slice(headEnd + 4 + length);
  }
  return responses;
}
