import { connect, createServer, type Server, type Socket } from 'node:net';

export type TcpRelay = {
  readonly port: number;
  /** From now on nothing passes either way, and new connections are held unanswered. */
  blackhole(): void;
  close(): Promise<void>;
};

// A TCP relay on loopback to a local server, which can turn into a black hole:
// the sockets stay open but no byte gets through, as with a dropped route or a
// frozen server. Used to show that nothing waits on a store that never answers.
export async function startTcpRelay(targetPort: number | undefined): Promise<TcpRelay> {
  const sockets = new Set<Socket>();
  let holed = targetPort === undefined;
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    if (holed || targetPort === undefined) return void client.pause();
    const target = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(target);
    target.on('close', () => sockets.delete(target));
    target.on('error', () => client.destroy());
    client.on('close', () => target.destroy());
    target.on('close', () => client.destroy());
    client.on('data', (chunk: Buffer) => {
      if (!holed) target.write(chunk);
    });
    target.on('data', (chunk: Buffer) => {
      if (!holed) client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('relay is not listening');

  return {
    port: address.port,
    blackhole() {
      holed = true;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
