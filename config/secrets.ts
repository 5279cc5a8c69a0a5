import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export type SecretProblem = { path: (string | number)[]; message: string };

/** Dotted paths whose values came from the environment or a file. */
export type SecretPaths = Set<string>;

const envReference = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

// Secrets never need to live in the YAML: "${NAME}" anywhere in a string is
// replaced from the environment, and a key "somethingFile" is replaced by a key
// "something" holding the file's content (trailing newline removed), the
// convention of Docker and systemd credentials.
export function resolveSecrets(
  value: unknown,
  env: NodeJS.ProcessEnv,
  baseDir: string,
  problems: SecretProblem[],
  secretPaths: SecretPaths,
  path: (string | number)[] = [],
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    secretPaths.add(path.join('.'));
    return expandEnv(value, env, problems, path);
  }
  if (Array.isArray(value)) {
    return value.map((item, index) =>
      resolveSecrets(item, env, baseDir, problems, secretPaths, [...path, index]),
    );
  }
  if (value === null || typeof value !== 'object') return value;

  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const resolved = resolveSecrets(item, env, baseDir, problems, secretPaths, [...path, key]);
    const target = /^[a-z][A-Za-z0-9]*File$/.test(key) ? key.slice(0, -4) : undefined;
    if (target === undefined || typeof resolved !== 'string') {
      result[key] = resolved;
      continue;
    }
    if (target in value) {
      problems.push({ path: [...path, key], message: `give either "${target}" or "${key}"` });
      continue;
    }
    secretPaths.add([...path, target].join('.'));
    result[target] = readSecretFile(resolve(baseDir, resolved), problems, [...path, key]);
  }
  return result;
}

function expandEnv(
  text: string,
  env: NodeJS.ProcessEnv,
  problems: SecretProblem[],
  path: (string | number)[],
): string {
  return text.replace(envReference, (_match, name: string) => {
    const found = env[name];
    if (found === undefined) {
      problems.push({ path, message: `environment variable ${name} is not set` });
      return '';
    }
    return found;
  });
}

function readSecretFile(file: string, problems: SecretProblem[], path: (string | number)[]) {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    problems.push({ path, message: `cannot read secret file ${file} (${reason})` });
    return '';
  }
}
