import { randomInt } from 'node:crypto';

// Servers that cannot listen on port 0 and report the port (redis-server,
// postgres) are started on a random high port; when the bind fails because
// the port is taken, another is tried. The bind itself is the check, so no
// other process can take the port between a probe and the start.
// A server that must get the same port back after a restart takes one below
// Linux's ephemeral range (32768 and up), where no outgoing connection can
// borrow it meanwhile: `lowRange`.
export const lowRange: readonly [number, number] = [20000, 32000];

export async function startOnSomePort<T>(
  start: (port: number) => Promise<T | 'port-taken'>,
  attempts = 20,
  range: readonly [number, number] = [20000, 60000],
): Promise<T> {
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    const started = await start(randomInt(range[0], range[1]));
    if (started !== 'port-taken') return started;
  }
  throw new Error(`no free port after ${attempts} attempts`);
}
