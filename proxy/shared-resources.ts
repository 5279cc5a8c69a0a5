import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../common/log.ts';

type Entry = {
  readonly settings: unknown;
  readonly value: unknown;
  readonly dispose: (() => unknown) | undefined;
};

/**
 * What policy builders take long-lived things from: stores, connections,
 * counters, audit sinks. `acquire` hands back the running instance when its
 * settings are unchanged, so a reload rebuilds the policies around the same
 * state instead of starting it afresh.
 */
export type ResourceScope = {
  acquire<T>(name: string, settings: unknown, create: () => T, dispose?: (value: T) => unknown): T;
  /**
   * Runs once this configuration is in service, in the same step as the
   * swap: the place to give a kept resource its new settings (a raised
   * limit) without touching it when the reload is refused.
   */
  onCommit(apply: () => void): void;
};

// The guard's long-lived resources, by name. Each configuration (at start and
// at every reload) is built in a generation: what it acquires with unchanged
// settings is carried over, what it no longer acquires or acquires with new
// settings is disposed once the new generation is in service.
export class SharedResources {
  #running = new Map<string, Entry>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  begin(): ResourceGeneration {
    return new ResourceGeneration(this.#running, this.#logger, (next, retired) => {
      this.#running = next;
      for (const [name, entry] of retired) this.#dispose(name, entry);
    });
  }

  /** Names of the resources in service, for logs and tests. */
  names(): string[] {
    return [...this.#running.keys()];
  }

  async close(): Promise<void> {
    const entries = [...this.#running];
    this.#running = new Map();
    await Promise.all(entries.map(([name, entry]) => this.#dispose(name, entry)));
  }

  // Disposal may wait for work in flight (a connection pool drains its
  // requests first), so nobody waits for it but shutdown.
  async #dispose(name: string, entry: Entry): Promise<void> {
    try {
      await entry.dispose?.();
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'failed';
      this.#logger.warn({ resource: name, err: { code } }, 'resource did not close cleanly');
    }
  }
}

export class ResourceGeneration implements ResourceScope {
  readonly #running: ReadonlyMap<string, Entry>;
  readonly #next = new Map<string, Entry>();
  readonly #created = new Set<string>();
  readonly #onCommit: (() => void)[] = [];
  readonly #install: (next: Map<string, Entry>, retired: Map<string, Entry>) => void;
  readonly #logger: Logger;
  #settled = false;

  constructor(
    running: ReadonlyMap<string, Entry>,
    logger: Logger,
    install: (next: Map<string, Entry>, retired: Map<string, Entry>) => void,
  ) {
    this.#running = running;
    this.#logger = logger;
    this.#install = install;
  }

  acquire<T>(name: string, settings: unknown, create: () => T, dispose?: (value: T) => unknown): T {
    if (this.#settled) throw new Error(`resource ${name} acquired after its generation ended`);
    const chosen = this.#next.get(name);
    if (chosen) {
      if (!isDeepStrictEqual(chosen.settings, settings)) {
        throw new Error(`resource ${name} acquired twice with different settings`);
      }
      return chosen.value as T;
    }
    const running = this.#running.get(name);
    if (running && isDeepStrictEqual(running.settings, settings)) {
      this.#next.set(name, running);
      return running.value as T;
    }
    const value = create();
    this.#next.set(name, { settings, value, dispose: dispose && (() => dispose(value)) });
    this.#created.add(name);
    return value;
  }

  onCommit(apply: () => void): void {
    if (this.#settled) throw new Error('onCommit after the generation ended');
    this.#onCommit.push(apply);
  }

  /** Resources this generation made new (first start, or changed settings). */
  get created(): readonly string[] {
    return [...this.#created];
  }

  /** Puts this generation in service and disposes what it did not carry over. */
  commit(): void {
    this.#settle();
    const retired = new Map<string, Entry>();
    for (const [name, entry] of this.#running) {
      if (this.#next.get(name) !== entry) retired.set(name, entry);
    }
    this.#install(this.#next, retired);
    // The swap has happened: a failing hook is reported, not undone.
    for (const apply of this.#onCommit) {
      try {
        apply();
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'failed';
        this.#logger.error({ err: { code } }, 'resource update after reload failed');
      }
    }
  }

  /** Drops this generation: only what it created is disposed. */
  async abort(): Promise<void> {
    this.#settle();
    const made = [...this.#created].map((name) => this.#next.get(name));
    await Promise.allSettled(made.map((entry) => entry?.dispose?.()));
  }

  #settle(): void {
    if (this.#settled) throw new Error('resource generation already ended');
    this.#settled = true;
  }
}
