import { fstatSync } from 'node:fs';
import { type DestinationStream, type Logger, pino } from 'pino';

// Paths pino blanks before a line is written. The access log never carries
// headers, but any component that logs a request or an error object by accident
// still cannot leak a credential through these fields.
const redactPaths = [
  'headers.cookie',
  'headers.authorization',
  'headers["proxy-authorization"]',
  'headers["set-cookie"]',
  'req.headers.cookie',
  'req.headers.authorization',
  'password',
  'token',
  'secret',
  'key',
];

// pino's ISO time, built once per millisecond: under load many lines share it.
let stampMs = -1;
let stamp = '';
export function isoTime(): string {
  const now = Date.now();
  if (now !== stampMs) {
    stampMs = now;
    stamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return stamp;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'ocomms-guard' },
    redact: { paths: redactPaths, censor: '[redacted]' },
    timestamp: isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}

// Standard output, written in batches of 16 KiB (some fifty access lines): one
// write per line cost a fifth of the guard's CPU under load. Lines wait at most
// flushMs before they are written, and whatever is buffered is written when
// the process exits.
//
// A regular file takes each batch at once, so it is written in place; handing
// every batch to the thread pool cost more than the write itself. A pipe or a
// socket (journald, a container runtime) can stall, so batches go to it from
// the thread pool and a slow reader never holds up the proxy.
export function createStdoutDestination(flushMs = 200) {
  const sync = isRegularFile(1);
  const destination = pino.destination({ dest: 1, minLength: 16384, maxWrite: 65536, sync });
  const timer = setInterval(() => destination.flush(), flushMs);
  timer.unref();
  if (sync) process.once('exit', () => destination.flushSync());
  return destination;
}

function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

export type { Logger };
