import { isIP } from 'node:net';
import { z } from 'zod';
import { listenAddress, milliseconds, parseListenAddress } from './units.ts';

export type DbTarget = { host: string; port: number };

// "db.example.com:5432", "10.0.0.5", "[2001:db8::5]:5432"; the port defaults
// to PostgreSQL's 5432.
export function parseDbTarget(text: string): DbTarget | undefined {
  const match = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9.-]+))(?::(\d{1,5}))?$/i.exec(text.trim());
  if (!match) return undefined;
  const host = match[1] ?? match[2];
  const port = match[3] === undefined ? 5432 : Number(match[3]);
  if (!host || port < 1 || port > 65535) return undefined;
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  return { host, port };
}

export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  return host === '::1' || host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const dbTarget = z.string().refine((text) => parseDbTarget(text) !== undefined, {
  message: 'expected "host:port", "host" or "[ipv6]:port"',
});

// The app's own database connection: plaintext on loopback to the guard, then
// verified TLS from the guard to PostgreSQL.
export const dbTunnelSchema = z
  .strictObject({
    listen: listenAddress.default('127.0.0.1:6432'),
    // The plaintext side carries the app's credentials; beyond loopback they
    // would cross a network in clear, so that takes an explicit choice.
    allowNonLoopback: z.boolean().default(false),
    target: dbTarget,
    serverName: z.string().min(1).optional(),
    negotiation: z.enum(['postgres', 'direct']).default('postgres'),
    tls: z.strictObject({
      ca: z.string().min(1),
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
    }),
    connectTimeoutMs: milliseconds.min(1).default(5000),
    maxConnections: z.number().int().min(1).max(100000).default(500),
  })
  .superRefine((tunnel, context) => {
    const host = parseListenAddress(tunnel.listen)?.host;
    if (!tunnel.allowNonLoopback && !isLoopbackHost(host)) {
      context.addIssue({
        code: 'custom',
        path: ['listen'],
        message:
          'the tunnel listens in plaintext: use a loopback address (127.0.0.1:PORT) ' +
          'or set allowNonLoopback: true',
        input: tunnel.listen,
      });
    }
    if ((tunnel.tls.cert === undefined) !== (tunnel.tls.key === undefined)) {
      context.addIssue({
        code: 'custom',
        path: ['tls', tunnel.tls.cert === undefined ? 'cert' : 'key'],
        message: 'a client certificate needs both tls.cert and tls.key',
        input: undefined,
      });
    }
  });

export type DbTunnelConfig = z.output<typeof dbTunnelSchema>;
