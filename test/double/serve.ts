import { startOcommsDouble } from './ocomms-double.ts';

// The README's demo upstream: `PORT=3000 node test/double/serve.ts`.

const DEFAULT_PORT = 3000;

const port = process.env.PORT === undefined ? DEFAULT_PORT : Number(process.env.PORT);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be an integer 0..65535, got ${process.env.PORT}`);
  process.exit(1);
}

const double = await startOcommsDouble({ port, host: '127.0.0.1' });
console.log(`ocomms double listening on ${double.url}`);

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await double.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
