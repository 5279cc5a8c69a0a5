import { userInfo } from 'node:os';
import { request } from 'undici';
import { isGuardError } from '../common/errors.ts';
import { ConfigError, formatProblems, loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { readAdminAccess } from '../proxy/admin-access.ts';
import type { LockView } from '../proxy/admin-lockout.ts';
import { viaRedis } from './lockout-redis.ts';

// `ocomms-guard lockout list|unlock EMAIL`: acts on the state the running guard
// uses, through its admin listener (which holds the in-memory store and records
// the unlock in its audit trail), or straight on the shared Redis when the
// guard runs without an admin listener.
export type LockoutAdmin = {
  list(): Promise<LockView[]>;
  unlock(email: string, by: string): Promise<LockView[]>;
  close?(): void;
};

function viaAdminListener(config: Config): LockoutAdmin {
  if (config.listen.admin === false) {
    throw new Error('listen.admin is disabled: the lockout commands need the admin listener');
  }
  // The running guard writes where its admin listener is and the token it
  // takes to dataDir, readable by its own user only.
  const access = readAdminAccess(config.dataDir);
  const base = access.url;
  const authorization = `Bearer ${access.token}`;

  const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const response = await request(`${base}${path}`, {
      method,
      headers: { authorization, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const parsed = (await response.body.json()) as Record<string, unknown>;
    if (response.statusCode !== 200) {
      throw new Error(`admin listener answered ${response.statusCode} ${String(parsed.code)}`);
    }
    return parsed;
  };
  return {
    list: async () => ((await call('GET', '/lockout')).locks ?? []) as LockView[],
    unlock: async (email, by) =>
      ((await call('POST', '/lockout/unlock', { email, by })).cleared ?? []) as LockView[],
  };
}

function formatLocks(locks: readonly LockView[]): string {
  if (locks.length === 0) return 'no locks in force\n';
  const rows = locks.map((lock) =>
    [lock.account, lock.scope, lock.address ?? '-', lock.lockedUntil, String(lock.level)].join(
      '  ',
    ),
  );
  return `account  scope  address  locked-until  level\n${rows.join('\n')}\n`;
}

export async function runLockout(file: string, args: readonly string[]): Promise<number> {
  const [action, email] = args;
  if (action !== 'list' && action !== 'unlock') {
    process.stderr.write('ocomms-guard: lockout needs "list" or "unlock EMAIL"\n');
    return 2;
  }
  if (action === 'unlock' && !email) {
    process.stderr.write('ocomms-guard: lockout unlock needs an EMAIL\n');
    return 2;
  }
  try {
    const { config } = loadConfigFile(file);
    const direct = config.listen.admin === false && config.store.redis !== undefined;
    const admin = direct ? await viaRedis(config) : viaAdminListener(config);
    try {
      if (action === 'list') {
        process.stdout.write(formatLocks(await admin.list()));
        return 0;
      }
      const cleared = await admin.unlock(email ?? '', `cli:${userInfo().username}`);
      const account = email?.trim().toLowerCase();
      process.stdout.write(`unlocked ${account}: ${cleared.length} lock(s) cleared\n`);
      return 0;
    } finally {
      admin.close?.();
    }
  } catch (error) {
    if (error instanceof ConfigError) process.stderr.write(`${formatProblems(error)}\n`);
    else if (isGuardError(error)) process.stderr.write(`${error.code}: ${error.message}\n`);
    else {
      const reason = error instanceof Error ? error.message : String(error);
      process.stderr.write(`GUARD_ERR_LOCKOUT_STORE: ${reason}\n`);
    }
    return 1;
  }
}
