import { readFileSync } from 'node:fs';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, TLSSocket } from 'node:tls';

// Servers that misbehave in the ways the tunnel must refuse, or that speak
// PostgreSQL 17's direct TLS (not installed here): enough of the opening of
// the protocol to see what the tunnel sends, nothing more.

export type FakePgServer = {
  readonly port: number;
  /** What arrived before any TLS, as the server saw it. */
  readonly plainBytes: () => Buffer;
  /** What arrived inside TLS. */
  readonly secureBytes: () => Buffer;
  /** ALPN protocols and SNI name the client offered (direct mode). */
  readonly hello: { protocols: string[] | undefined; servername: string | undefined };
  close(): Promise<void>;
};

export type FakePgMode =
  /** Answers SSLRequest with these bytes; a lone 'S' is followed by TLS. */
  | { kind: 'answer'; bytes: Buffer }
  /** Accepts the connection and never says anything. */
  | { kind: 'silent' }
  /** TLS from the first byte; selects ALPN postgresql, or knows nothing of ALPN. */
  | { kind: 'direct'; selectAlpn: boolean };

/** Once TLS is up, the server answers the startup message with AuthenticationOk. */
export const authenticationOk = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]);

export async function startFakePgServer(
  mode: FakePgMode,
  leaf: { certPath: string; keyPath: string },
): Promise<FakePgServer> {
  const cert = readFileSync(leaf.certPath);
  const key = readFileSync(leaf.keyPath);
  let plain = Buffer.alloc(0);
  let secure = Buffer.alloc(0);
  const hello: FakePgServer['hello'] = { protocols: undefined, servername: undefined };
  const sockets = new Set<Socket>();
  const onSecure = (socket: TLSSocket) => {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      const first = secure.length === 0;
      secure = Buffer.concat([secure, chunk]);
      if (first) socket.write(authenticationOk);
    });
  };

  let server: Server;
  if (mode.kind === 'direct') {
    const alpn = {
      ALPNCallback: ({ servername, protocols }: { servername: string; protocols: string[] }) => {
        hello.protocols = protocols;
        hello.servername = servername;
        return 'postgresql';
      },
    };
    server = createTlsServer({ cert, key, ...(mode.selectAlpn ? alpn : {}) });
    server.on('secureConnection', onSecure);
    server.on('tlsClientError', () => undefined);
  } else {
    server = createTcpServer((socket) => {
      socket.on('error', () => undefined);
      socket.on('data', function onPlain(chunk: Buffer) {
        plain = Buffer.concat([plain, chunk]);
        if (mode.kind === 'silent' || plain.length < 8) return;
        socket.off('data', onPlain);
        socket.write(mode.bytes);
        if (mode.bytes.length !== 1 || mode.bytes[0] !== 0x53) return;
        const upgraded = new TLSSocket(socket, { isServer: true, cert, key });
        onSecure(upgraded);
      });
    });
  }
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    plainBytes: () => plain,
    secureBytes: () => secure,
    hello,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
