import { type ErrorCode, isGuardError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { ConfigError, type ConfigProblem, formatProblems, loadConfigFile } from '../config/load.ts';
import { planReload, type ReloadPlan } from '../config/reload-plan.ts';
import type { Config } from '../config/schema.ts';
import { type AssemblyServices, assemble } from './assemble.ts';
import type { GuardRuntime } from './context.ts';
import type { ListenerChange, ListenerKind, Listeners } from './listeners.ts';
import { createReloadMetrics } from './reload-metrics.ts';
import type { ResourceGeneration } from './shared-resources.ts';

export type ReloadChannel = 'signal' | 'admin' | 'file-watch';

export type ReloadRequest = {
  readonly channel: ReloadChannel;
  /** Who asked, as far as the channel tells: "SIGHUP", a claimed user name. */
  readonly requestedBy: string;
  readonly clientIp?: string;
};

export type ReloadOutcome =
  | {
      readonly status: 'applied';
      readonly changed: readonly string[];
      readonly restartRequired: readonly string[];
      readonly listeners: readonly ListenerKind[];
      /** Long-lived resources made anew because their settings changed. */
      readonly replaced: readonly string[];
    }
  | {
      readonly status: 'refused';
      readonly code: ErrorCode;
      readonly message: string;
      readonly problems: readonly ConfigProblem[];
    };

export type ReloadTarget = {
  readonly runtime: GuardRuntime;
  readonly services: AssemblyServices;
  readonly listeners: Listeners;
  readonly configFile: string;
  readonly logger: Logger;
  /** Called once a configuration is in service, for what follows its settings. */
  readonly onApplied: (config: Config) => void;
};

// Reads the file again, validates all of it, builds the new policies next to
// the running ones, binds new listeners, then swaps in one synchronous step:
// a request reads runtime.policies once on arrival, so it is handled wholly by
// the old or wholly by the new configuration. Reloads run one at a time.
export function createReloader(target: ReloadTarget) {
  const metrics = createReloadMetrics(target.runtime.metrics.registry);
  let queue: Promise<unknown> = Promise.resolve();

  const settle = (request: ReloadRequest, outcome: ReloadOutcome) => {
    metrics.record(request.channel, outcome.status);
    report(target, request, outcome);
    return outcome;
  };
  return {
    reload(request: ReloadRequest): Promise<ReloadOutcome> {
      const next = queue.then(() => reloadOnce(target, request));
      queue = next.catch(() => undefined);
      return next.then((outcome) => settle(request, outcome));
    },
    /** A request turned away before any reload began (no valid admin token). */
    deny(request: ReloadRequest, code: ErrorCode, message: string): ReloadOutcome {
      return settle(request, refused(code, message));
    },
  };
}

export type Reloader = ReturnType<typeof createReloader>;

async function reloadOnce(target: ReloadTarget, request: ReloadRequest): Promise<ReloadOutcome> {
  const { runtime } = target;
  if (runtime.closing) return refused('GUARD_ERR_SHUTTING_DOWN', 'the guard is stopping');
  let plan: ReloadPlan;
  try {
    plan = planReload(runtime.policies.config, loadConfigFile(target.configFile).config);
  } catch (error) {
    if (error instanceof ConfigError) {
      return refused(error.code, error.message, error.problems);
    }
    if (isGuardError(error)) return refused(error.code, error.message);
    return refused('GUARD_ERR_RELOAD_FAILED', (error as Error).message);
  }
  target.logger.debug({ channel: request.channel }, 'configuration reload validated');

  const generation = runtime.resources.begin();
  let listeners: ListenerChange | undefined;
  let assembly: ReturnType<typeof assemble>;
  try {
    assembly = assemble(plan.config, generation, target.services);
    listeners = await target.listeners.bind(plan.config);
    if (runtime.closing) throw new Error('the guard is stopping');
    commit(target, plan, generation, listeners, assembly);
  } catch (error) {
    await listeners?.abort();
    await generation.abort().catch(() => undefined);
    const code = isGuardError(error) ? error.code : 'GUARD_ERR_RELOAD_FAILED';
    const reason = (error as Error).message;
    return refused(code, `the configuration could not be applied: ${reason}`);
  }
  afterCommit(target, plan.config, generation, assembly);
  return {
    status: 'applied',
    changed: plan.changed,
    restartRequired: plan.restartRequired,
    listeners: listeners.changed,
    replaced: generation.created,
  };
}

// What follows a configuration in service; a failure here is reported and
// leaves the new configuration in place.
function afterCommit(
  target: ReloadTarget,
  config: Config,
  generation: ResourceGeneration,
  assembly: ReturnType<typeof assemble>,
): void {
  try {
    target.onApplied(config);
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'failed';
    target.logger.error({ err: { code } }, 'follow-up of a reload failed');
  }
  // Certificates are read again on every reload, as SIGHUP always did; a
  // source made anew has just read them. A failure keeps those in service.
  if (!generation.created.includes('tls')) {
    try {
      assembly.tls.reload();
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'failed';
      target.logger.error({ err: { code } }, 'certificate reload failed');
    }
  }
}

// Nothing in here waits or throws: between the first assignment and the last
// no request can start.
function commit(
  target: ReloadTarget,
  plan: ReloadPlan,
  generation: ResourceGeneration,
  listeners: ListenerChange,
  assembly: ReturnType<typeof assemble>,
): void {
  const { runtime } = target;
  listeners.commit();
  target.listeners.applyLimits(plan.config);
  runtime.upstream = assembly.upstream;
  runtime.policies = assembly.policies;
  runtime.httpsPublicPort = plan.config.listen.publicHttpsPort ?? target.listeners.ports.https;
  generation.commit();
}

function refused(
  code: ErrorCode,
  message: string,
  problems: readonly ConfigProblem[] = [],
): ReloadOutcome {
  return { status: 'refused', code, message, problems };
}

function report(target: ReloadTarget, request: ReloadRequest, outcome: ReloadOutcome): void {
  const { runtime } = target;
  const who = { channel: request.channel, requestedBy: request.requestedBy };
  if (outcome.status === 'applied') {
    const fields = {
      ...who,
      changed: outcome.changed,
      listeners: outcome.listeners,
      replaced: outcome.replaced,
      restartRequired: outcome.restartRequired,
    };
    target.logger.info(fields, 'configuration reloaded');
    if (outcome.restartRequired.length > 0) {
      const pending = outcome.restartRequired;
      target.logger.warn({ restartRequired: pending }, 'configuration changes wait for a restart');
    }
    runtime.events.emit({
      type: 'config.reloaded',
      outcome: 'success',
      ...(request.clientIp ? { clientIp: request.clientIp } : {}),
      details: {
        ...who,
        changed: outcome.changed.join(',') || null,
        listeners: outcome.listeners.join(',') || null,
        restartRequired: outcome.restartRequired.join(',') || null,
      },
    });
    return;
  }
  const problems = outcome.problems.length
    ? formatProblems(new ConfigError(target.configFile, [...outcome.problems]))
        .split('\n')
        .slice(1)
        .map((line) => line.trim())
    : [];
  const fields = { ...who, code: outcome.code, reason: outcome.message, problems };
  target.logger.error(fields, 'configuration reload refused');
  runtime.events.emit({
    type: 'config.reload_failed',
    outcome: 'failure',
    ...(request.clientIp ? { clientIp: request.clientIp } : {}),
    details: { ...who, code: outcome.code, errors: outcome.problems.length },
  });
}
