import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isGuardError } from '../common/errors.ts';
import { ConfigError, formatProblems, loadConfigFile } from '../config/load.ts';
import { auditCommands, runAuditCommand } from './audit.ts';
import { listCertificates, renewCertificates } from './certs.ts';
import { runLockout } from './lockout.ts';
import { reloadCommand } from './reload.ts';
import { runGuard } from './run.ts';
import { overrideEnv, overrideFlag, runtimeProblem } from './runtime.js';

const usage = `Usage: ocomms-guard <command> [options]

Commands:
  run --config FILE     run the guard in front of the configured upstream
  check --config FILE   validate a configuration and the certificate and key files it
                        names; prints every error, exit 1 if any
  certs list --config FILE
                        ACME certificates: names, issuer, expiry, next renewal, last error
  certs renew [--force] --config FILE
                        ask the running guard to renew due certificates now
                        (--force: all of them, even when not due)
  reload --config FILE  make the running guard read FILE again (validated first;
                        an invalid file changes nothing); exit 1 if refused
  audit migrate         create or update the audit tables in PostgreSQL
  audit verify          walk the hash chain; names the first altered, removed or
                        inserted event, exit 1 if any
  audit tail [--follow] [--type T] [--actor A] [--limit N]
                        the newest events; --follow keeps printing new ones
  audit search --since T [--until T] [--type T] [--actor A] [--limit N]
                        events in a time range (ISO times, or 15m, 2h, 7d ago)
                        (audit commands take --config FILE; --json prints JSON lines)
  lockout list --config FILE
                        list the sign-in locks in force
  lockout unlock EMAIL --config FILE
                        lift every lock and counter of one account

Options:
  -c, --config FILE     the YAML configuration
  ${overrideFlag}
                        run on a Node.js without the HTTP parser fix (unsafe)
  -h, --help            show this help
  -v, --version         print the version
`;

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    process.stderr.write(`ocomms-guard: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = positionals[0];
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(usage);
    return values.help || command === 'help' ? 0 : 2;
  }
  if (!['run', 'check', 'certs', 'reload', 'audit', 'lockout'].includes(command)) {
    process.stderr.write(`ocomms-guard: unknown command "${command}"\n\n${usage}`);
    return 2;
  }
  if (!values.config) {
    process.stderr.write(`ocomms-guard: ${command} needs --config FILE\n`);
    return 2;
  }
  if (command === 'check') return check(values.config);
  if (command === 'certs') return certs(values.config, positionals[1], values.force === true);
  if (command === 'reload') return reloadCommand(values.config);
  if (command === 'audit') return audit(values.config, positionals[1], values);
  if (command === 'lockout') return runLockout(values.config, positionals.slice(1));

  const problem = runtimeProblem(process.versions.node);
  const overridden = values[overrideFlag] || process.env[overrideEnv] === '1';
  if (problem && !overridden) {
    process.stderr.write(
      `ocomms-guard: GUARD_ERR_RUNTIME_UNSUPPORTED: ${problem}.\nTo run anyway: ${overrideFlag}\n`,
    );
    return 1;
  }
  return runGuard(values.config, problem);
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      force: { type: 'boolean' },
      [overrideFlag.slice(2)]: { type: 'boolean' },
      type: { type: 'string' },
      actor: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
      json: { type: 'boolean' },
    },
  });
}

function check(file: string): number {
  try {
    loadConfigFile(file, process.env, { checkFiles: true });
    process.stdout.write(`${file}: valid\n`);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) process.stderr.write(`${formatProblems(error)}\n`);
    else if (isGuardError(error)) process.stderr.write(`${error.code}: ${error.message}\n`);
    else throw error;
    return 1;
  }
}

async function certs(file: string, action: string | undefined, force: boolean) {
  if (action !== 'list' && action !== 'renew') {
    process.stderr.write(`ocomms-guard: certs needs "list" or "renew"\n\n${usage}`);
    return 2;
  }
  let config: ReturnType<typeof loadConfigFile>['config'];
  try {
    config = loadConfigFile(file).config;
  } catch (error) {
    if (error instanceof ConfigError) process.stderr.write(`${formatProblems(error)}\n`);
    else if (isGuardError(error)) process.stderr.write(`${error.code}: ${error.message}\n`);
    else throw error;
    return 1;
  }
  return action === 'list' ? listCertificates(config) : renewCertificates(config, force);
}

async function audit(
  file: string,
  command: string | undefined,
  options: Parameters<typeof runAuditCommand>[2],
): Promise<number> {
  if (!command || !(auditCommands as readonly string[]).includes(command)) {
    process.stderr.write(`ocomms-guard: audit needs one of: ${auditCommands.join(', ')}\n`);
    return 2;
  }
  try {
    return await runAuditCommand(command, loadConfigFile(file).config, options);
  } catch (error) {
    if (error instanceof ConfigError) process.stderr.write(`${formatProblems(error)}\n`);
    else if (isGuardError(error)) process.stderr.write(`${error.code}: ${error.message}\n`);
    else throw error;
    return 1;
  }
}

function version(): string {
  const url = new URL('../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}
