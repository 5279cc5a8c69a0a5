import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { ConfigError, type ConfigProblem, formatProblems, loadConfigFile } from '../config/load.ts';
import { type AdminAccess, adminAccessFileName, readAdminAccess } from '../proxy/admin-access.ts';
import type { ReloadOutcome } from '../proxy/reload.ts';

const timeoutMs = 30_000;

// `ocomms-guard reload`: asks the running guard, through its admin listener,
// to read its configuration file again, and prints what it answered. The
// address and the token come from the admin access file in dataDir, which
// only the guard's user (and root) can read.
export async function reloadCommand(file: string): Promise<number> {
  let access: AdminAccess;
  const dataDir = dataDirOf(file);
  try {
    access = readAdminAccess(dataDir);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    process.stderr.write(
      `GUARD_ERR_ADMIN_UNREACHABLE: cannot read ${resolve(dataDir, adminAccessFileName)}` +
        ` (${reason}). Is the guard running with its admin listener on, as a user` +
        ' whose files you can read? Sending SIGHUP reloads it too.\n',
    );
    return 1;
  }

  let response: Response;
  try {
    response = await fetch(`${access.url}/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${access.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ requestedBy: requester() }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const reason = (error as Error).cause ?? error;
    const code = (reason as { code?: string }).code ?? (reason as Error).message;
    process.stderr.write(`GUARD_ERR_ADMIN_UNREACHABLE: ${access.url} (${code})\n`);
    return 1;
  }
  const outcome = (await response.json()) as ReloadOutcome;
  if (outcome.status === 'applied') {
    process.stdout.write(describeApplied(outcome));
    return 0;
  }
  const problems = outcome.problems as ConfigProblem[];
  if (problems.length > 0) {
    process.stderr.write(`${formatProblems(new ConfigError(file, problems))}\n`);
  }
  process.stderr.write(`reload refused: ${outcome.code}: ${outcome.message}\n`);
  return 1;
}

function describeApplied(outcome: Extract<ReloadOutcome, { status: 'applied' }>): string {
  const lines = [
    `reloaded; changed: ${outcome.changed.join(', ') || 'nothing'}`,
    ...(outcome.listeners.length ? [`listeners rebound: ${outcome.listeners.join(', ')}`] : []),
    ...(outcome.restartRequired.length
      ? [`needs a restart to take effect: ${outcome.restartRequired.join(', ')}`]
      : []),
  ];
  return `${lines.join('\n')}\n`;
}

// The guard's dataDir from the file, even when the file is invalid (the
// guard then answers with the errors, and the running configuration stays).
function dataDirOf(file: string): string {
  try {
    return loadConfigFile(file).config.dataDir;
  } catch {
    try {
      const raw = parse(readFileSync(file, 'utf8')) as { dataDir?: unknown } | null;
      if (typeof raw?.dataDir === 'string') return raw.dataDir;
    } catch {
      // unreadable or not YAML: the default below
    }
    return './data';
  }
}

function requester(): string {
  try {
    return `${userInfo().username} (cli)`;
  } catch {
    return 'unknown (cli)';
  }
}
