import { isDeepStrictEqual } from 'node:util';
import type { Config } from './schema.ts';

// Settings a running guard cannot take over. dataDir holds the internal CA,
// the certificates and the audit spool, which are opened once; log.level is
// copied into every component's logger when it is made. A reload keeps their
// running values and says that a restart is needed for the file's ones.
const restartOnly = ['dataDir', 'log'] as const satisfies readonly (keyof Config)[];

export type ReloadPlan = {
  /** The configuration to run: the file's, with restart-only keys as running. */
  readonly config: Config;
  /** Top-level sections that differ from the running configuration. */
  readonly changed: readonly string[];
  /** Sections changed in the file that only take effect on a restart. */
  readonly restartRequired: readonly string[];
};

export function planReload(running: Config, next: Config): ReloadPlan {
  const keys = new Set([...Object.keys(running), ...Object.keys(next)]);
  const differs = (key: string) =>
    !isDeepStrictEqual(
      (running as Record<string, unknown>)[key],
      (next as Record<string, unknown>)[key],
    );
  const restartRequired = restartOnly.filter((key) => differs(key));
  const kept = Object.fromEntries(restartOnly.map((key) => [key, running[key]]));
  const config = Object.freeze({ ...next, ...kept }) as Config;
  const changed = [...keys].filter(
    (key) => differs(key) && !(restartOnly as readonly string[]).includes(key),
  );
  return { config, changed: changed.sort(), restartRequired };
}

export const restartOnlySections: readonly string[] = restartOnly;
