import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { GuardError } from '../common/errors.ts';
import { hintForKey, hintForValue, keysAt } from './hints.ts';
import { ocommsRoutes } from './presets/ocomms.ts';
import { ocommsRateLimits } from './presets/ocomms-rate-limits.ts';
import { checkReferencedFiles } from './referenced-files.ts';
import { type Config, configSchema } from './schema.ts';
import { resolveSecrets, type SecretProblem } from './secrets.ts';

export type ConfigProblem = {
  path: string;
  line: number | undefined;
  message: string;
  found?: string;
  hint?: string;
};

export type LoadedConfig = { config: Config; file: string };

export type LoadOptions = {
  /** Also read and parse every certificate and key file named (`check`). */
  readonly checkFiles?: boolean;
};

export class ConfigError extends GuardError {
  readonly problems: readonly ConfigProblem[];
  readonly file: string;

  constructor(file: string, problems: ConfigProblem[]) {
    super('GUARD_ERR_CONFIG_INVALID', `${file}: ${problems.length} error(s)`);
    this.problems = problems;
    this.file = file;
  }
}

export function loadConfigFile(
  file: string,
  env = process.env,
  options: LoadOptions = {},
): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new GuardError('GUARD_ERR_CONFIG_READ', `cannot read ${file} (${reason})`);
  }
  return { config: parseConfigText(text, file, env, options), file };
}

// Parses, validates and freezes. Every problem is collected before failing, so
// a sysadmin fixes the whole file in one pass.
export function parseConfigText(
  text: string,
  file: string,
  env = process.env,
  options: LoadOptions = {},
): Config {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    const node = document.getIn(path as unknown[], true) as { range?: number[] } | undefined;
    const offset = node?.range?.[0];
    return offset === undefined ? undefined : lineCounter.linePos(offset).line;
  };
  if (document.errors.length > 0) {
    const problems = document.errors.map((error) => ({
      path: '',
      line: error.linePos?.[0].line,
      message: error.message.split('\n')[0] ?? error.message,
    }));
    throw new ConfigError(file, problems);
  }

  const secretProblems: SecretProblem[] = [];
  const secretPaths = new Set<string>();
  const baseDir = dirname(resolve(file));
  const raw = resolveSecrets(document.toJS() ?? {}, env, baseDir, secretProblems, secretPaths);
  const result = configSchema.safeParse(withPreset(withUpstream(raw)), { reportInput: true });
  const problems: ConfigProblem[] = secretProblems.map((problem) => ({
    path: problem.path.join('.'),
    line: lineOf(problem.path),
    message: problem.message,
  }));
  if (!result.success)
    problems.push(...result.error.issues.flatMap((i) => describe(i, lineOf, secretPaths)));
  // Files are read only for a configuration that validates: their paths are
  // settled then, and a wrong key is reported once, not again as a file.
  if (result.success && problems.length === 0 && options.checkFiles) {
    for (const found of checkReferencedFiles(result.data as Config)) {
      const { path, message } = found;
      problems.push({ path: path.join('.'), line: lineOf(path), message, found: found.file });
    }
  }
  if (problems.length > 0) throw new ConfigError(file, problems.sort(byLine));

  return deepFreeze(result.data as Config);
}

// A file without upstream (or with an empty one) is told what it lacks at
// the key to write, upstream.url, rather than that an object is missing.
function withUpstream(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const record = raw as Record<string, unknown>;
  return { ...record, upstream: record.upstream ?? {} };
}

// Preset routes and rate limits come first; a listed entry with the same
// name replaces one.
function withPreset(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const record = raw as Record<string, unknown>;
  if ((record.preset ?? 'ocomms') !== 'ocomms') return raw;
  return {
    ...record,
    routes: mergeByName(record.routes, ocommsRoutes),
    rateLimits: mergeByName(record.rateLimits, ocommsRateLimits),
  };
}

function mergeByName(listed: unknown, preset: readonly { name: string }[]): unknown {
  if (listed !== undefined && !Array.isArray(listed)) return listed;
  const entries = (listed ?? []) as { name?: unknown }[];
  const names = new Set(entries.map((entry) => entry.name));
  return [...entries, ...preset.filter((entry) => !names.has(entry.name))];
}

function describe(
  issue: z.core.$ZodIssue,
  lineOf: (path: readonly PropertyKey[]) => number | undefined,
  secretPaths: ReadonlySet<string>,
): ConfigProblem[] {
  const path = issue.path;
  if (issue.code === 'unrecognized_keys') {
    const known = keysAt(configSchema, path);
    return issue.keys.map((key) => {
      const dotted = [...path, key].join('.');
      const hint = hintForKey(dotted, key, known);
      return { path: dotted, line: lineOf([...path, key]), message: 'unknown key', hint };
    });
  }
  const dotted = path.join('.');
  // A value that came from the environment or a file may be a secret.
  const secret = [...secretPaths].some(
    (entry) => dotted === entry || dotted.startsWith(`${entry}.`),
  );
  const found = secret ? '(a secret value, not shown)' : showInput(issue);
  const problem: ConfigProblem = { path: dotted, line: lineOf(path), message: issue.message };
  if (found !== undefined) problem.found = found;
  const hint = issue.code === 'custom' ? issue.params?.hint : hintForValue(dotted);
  if (typeof hint === 'string') problem.hint = hint;
  return [problem];
}

function byLine(a: ConfigProblem, b: ConfigProblem): number {
  return (a.line ?? 0) - (b.line ?? 0);
}

function showInput(issue: z.core.$ZodIssue): string | undefined {
  if (!('input' in issue)) return undefined;
  const value = issue.input;
  if (value === undefined) return 'nothing';
  // Credentials written into a URL by mistake are not repeated back.
  const text = JSON.stringify(value)?.replace(/(\/\/)[^/@\s"]*@/g, '$1[redacted]@');
  if (text === undefined) return undefined;
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function formatProblems(error: ConfigError): string {
  const lines = [`${error.file}: ${error.problems.length} error(s)`];
  for (const problem of error.problems) {
    const where = problem.path || '(file)';
    const line = problem.line === undefined ? '' : ` (line ${problem.line})`;
    const found = problem.found === undefined ? '' : `; found ${problem.found}`;
    const hint = problem.hint === undefined ? '' : `; ${problem.hint}`;
    lines.push(`  ${where}${line}: ${problem.message}${found}${hint}`);
  }
  return lines.join('\n');
}

function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  for (const item of Object.values(value)) deepFreeze(item);
  return Object.freeze(value);
}
