import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// The admin listener's actions (listing locked accounts, unlocking one) need a
// token that only the guard's own user can read from dataDir, so that another
// local user reaching the loopback port cannot use them.
export function adminTokenPath(dataDir: string): string {
  return join(dataDir, 'admin.token');
}

export function ensureAdminToken(dataDir: string): string {
  const file = adminTokenPath(dataDir);
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(dataDir, { recursive: true });
    const token = randomBytes(32).toString('base64url');
    try {
      writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
    } catch {
      return readFileSync(file, 'utf8').trim();
    }
    chmodSync(file, 0o600);
    return token;
  }
}

export function readAdminToken(dataDir: string): string {
  return readFileSync(adminTokenPath(dataDir), 'utf8').trim();
}

export function isAdminToken(expected: string, header: string | undefined): boolean {
  const given = Buffer.from(/^Bearer (\S+)$/.exec(header ?? '')?.[1] ?? '');
  const wanted = Buffer.from(expected);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

// Where the admin listener really listens (its port may be 0 in the file), for
// the command line on the same machine.
export function recordAdminAddress(dataDir: string, port: number): void {
  writeFileSync(join(dataDir, 'admin.port'), `${port}\n`, { mode: 0o600 });
}

export function readAdminPort(dataDir: string): number | undefined {
  try {
    return Number(readFileSync(join(dataDir, 'admin.port'), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}
