import { randomInt } from 'node:crypto';

// Servers that cannot listen on port 0 and report the port (redis-server,
// postgres) are started on a random high port; when the bind fails because
// the port is taken, another is tried. The bind itself is the check, so no
// other process can take the port between a probe and the start.
export async function startOnSomePort<T>(
  start: (port: number) => Promise<T | 'port-taken'>,
  attempts = 20,
): Promise<T> {
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    const started = await start(randomInt(20000, 60000));
    if (started !== 'port-taken') return started;
  }
  throw new Error(`no free port after ${attempts} attempts`);
}
