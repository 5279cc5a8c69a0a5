import { z } from 'zod';

const sizeUnits: Record<string, number> = {
  b: 1,
  kb: 1000,
  kib: 1024,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

// Sizes may be written as bytes (26214400) or with a unit ("25MiB"), because
// sysadmins read "25MiB" faster than a long number and mistype it less often.
export function parseByteSize(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (!match) return value;
  const unit = (match[2] ?? '').toLowerCase() || 'b';
  const factor = sizeUnits[unit];
  if (factor === undefined) return value;
  return Math.round(Number(match[1]) * factor);
}

export const byteSize = z.preprocess(parseByteSize, z.number().int().positive());

export const milliseconds = z.number().int().nonnegative();

export type ListenAddress = { host: string | undefined; port: number };

// ":8443" listens on every interface, "127.0.0.1:9090" and "[::1]:9090" on one.
export function parseListenAddress(text: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]*))?:(\d{1,5})$/i.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  const host = match[1] ?? (match[2] || undefined);
  return { host, port };
}

export const listenAddress = z.string().refine((text) => parseListenAddress(text) !== undefined, {
  message: 'expected "host:port", ":port" or "[ipv6]:port"',
});
