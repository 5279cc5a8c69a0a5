import { isDeepStrictEqual } from 'node:util';
import type { Config } from './schema.ts';

// Top-level sections a reload puts in service: everything built from them is
// rebuilt (policies) or carried over by settings (listeners, the upstream
// pool, the certificate source). A section missing here, such as dataDir
// (the internal CA and the certificates are opened once) or log (the level
// is copied into each component's logger when it is made), keeps its running
// value, and the reload says that a restart is needed for the file's one;
// so do dbTunnel, whose listener and connections are set up once, and store,
// whose connection every instance's counters live behind.
// Keeping unlisted sections is the safe default: a section whose owner has
// not made it reloadable is never reported as applied when it was not.
const reloadable: ReadonlySet<string> = new Set([
  'preset',
  'listen',
  'upstream',
  'trustedProxies',
  'rejectUnknownHosts',
  'tls',
  'limits',
  'routes',
  'headers',
  'rateLimits',
  'rateLimitSettings',
  'bodyInspection',
  'crossOrigin',
  'adminAccess',
  'cspReports',
  'reload',
] satisfies (keyof Config)[]);

export type ReloadPlan = {
  /** The configuration to run: the file's, with other sections as running. */
  readonly config: Config;
  /** Reloadable top-level sections that differ from the running configuration. */
  readonly changed: readonly string[];
  /** Sections changed in the file that only take effect on a restart. */
  readonly restartRequired: readonly string[];
};

export function planReload(running: Config, next: Config): ReloadPlan {
  const before = running as Record<string, unknown>;
  const after = next as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const differing = keys.filter((key) => !isDeepStrictEqual(before[key], after[key]));
  // The ACME manager holds the account, orders in progress and its metrics:
  // a change of tls that involves it waits for a restart.
  const acme = running.tls.mode === 'acme' || next.tls.mode === 'acme';
  const applies = (key: string) => reloadable.has(key) && !(key === 'tls' && acme);
  const kept = Object.fromEntries(
    keys.filter((key) => !applies(key)).map((key) => [key, before[key]]),
  );
  return {
    config: Object.freeze({ ...next, ...kept }) as Config,
    changed: differing.filter(applies),
    restartRequired: differing.filter((key) => !applies(key)),
  };
}
