// The part of autocannon's API the load generator uses. autocannon ships no
// type definitions and @types/autocannon is not a dependency.
import type { Socket } from 'node:net';

export type AutocannonClient = {
  /** The current connection; replaced when autocannon reconnects. */
  conn: Socket | undefined;
  on(event: 'request', listener: () => void): void;
};

export type AutocannonOptions = {
  url: string;
  connections: number;
  duration: number;
  method: string;
  body?: Buffer;
  headers?: Record<string, string>;
  tlsOptions?: { ca: Buffer };
  servername?: string | undefined;
  setupClient?: (client: AutocannonClient) => void;
};

export type AutocannonResult = {
  /** Seconds the run took. */
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number; average: number };
  /** Milliseconds. */
  latency: { p50: number; p99: number };
};

export type Autocannon = (options: AutocannonOptions) => Promise<AutocannonResult>;
