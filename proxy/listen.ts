import type { Server } from 'node:net';
import { GuardError } from '../common/errors.ts';
import { parseListenAddress } from '../config/units.ts';

export async function listenOn(server: Server, address: string, what: string): Promise<number> {
  const parsed = parseListenAddress(address);
  if (!parsed) throw new GuardError('GUARD_ERR_LISTEN', `${what}: invalid address ${address}`);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        new GuardError('GUARD_ERR_LISTEN', `${what}: cannot listen on ${address} (${error.code})`),
      );
    };
    server.once('error', onError);
    server.listen({ host: parsed.host, port: parsed.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = server.address();
  return typeof bound === 'object' && bound ? bound.port : parsed.port;
}
