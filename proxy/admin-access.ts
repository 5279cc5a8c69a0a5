import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { writeFileAtomic } from '../acme/atomic-file.ts';
import { parseListenAddress } from '../config/units.ts';

export const adminAccessFileName = 'admin-access.json';

/** What `ocomms-guard reload` reads to reach the running guard. */
export type AdminAccess = { readonly url: string; readonly token: string };

// Endpoints that change the guard (reload) need more than a reachable admin
// listener: any local user can connect to loopback. A random token, made at
// each start and written to dataDir readable by the guard's own user only,
// gives exactly the people who could signal the process (its user and root)
// the right to ask, and nobody else.
export class AdminToken {
  readonly #digest: Buffer;
  readonly token: string;

  constructor(token = randomBytes(32).toString('base64url')) {
    this.token = token;
    this.#digest = digest(token);
  }

  allows(req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer ([A-Za-z0-9_-]{1,128})$/.exec(header);
    if (!match?.[1]) return false;
    return timingSafeEqual(digest(match[1]), this.#digest);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The URL a local client uses for a bound admin address ("0.0.0.0" means loopback). */
export function adminUrlFor(address: string, port: number): string {
  const host = parseListenAddress(address)?.host;
  if (!host || host === '0.0.0.0') return `http://127.0.0.1:${port}`;
  if (host === '::') return `http://[::1]:${port}`;
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

export function writeAdminAccess(dataDir: string, access: AdminAccess | undefined): void {
  const file = join(dataDir, adminAccessFileName);
  if (!access) {
    rmSync(file, { force: true });
    return;
  }
  writeFileAtomic(file, `${JSON.stringify(access)}\n`, 0o600);
}

export function readAdminAccess(dataDir: string): AdminAccess {
  const text = readFileSync(join(dataDir, adminAccessFileName), 'utf8');
  const parsed = JSON.parse(text) as Partial<AdminAccess>;
  if (typeof parsed.url !== 'string' || typeof parsed.token !== 'string') {
    throw new Error(`${adminAccessFileName} is malformed`);
  }
  return { url: parsed.url, token: parsed.token };
}
