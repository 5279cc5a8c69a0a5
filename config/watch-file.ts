import { type Stats, unwatchFile, watchFile } from 'node:fs';
import type { Config } from './schema.ts';

export type ConfigWatch = {
  /** Starts, stops or retunes the watch as `reload` says; called after each reload. */
  follow(settings: Config['reload']): void;
  close(): void;
};

// reload.watch: the configuration file is polled rather than watched with
// inotify, because editors and configuration tools replace the file by
// renaming a new one into place, which an inotify watch on the old file
// misses. Several writes in a row (an editor's save) make one call.
export function createConfigWatch(file: string, onChange: () => void, settleMs = 300) {
  let intervalMs: number | undefined;
  let pending: NodeJS.Timeout | undefined;
  const listener = (current: Stats, previous: Stats) => {
    const same = current.mtimeMs === previous.mtimeMs && current.size === previous.size;
    if (same && current.ino === previous.ino) return;
    if (pending) clearTimeout(pending);
    pending = setTimeout(onChange, settleMs);
    pending.unref();
  };
  const stop = () => {
    if (pending) clearTimeout(pending);
    if (intervalMs !== undefined) unwatchFile(file, listener);
    intervalMs = undefined;
  };

  const watch: ConfigWatch = {
    follow(settings) {
      const wanted = settings.watch ? settings.watchIntervalMs : undefined;
      if (wanted === intervalMs) return;
      stop();
      if (wanted === undefined) return;
      watchFile(file, { interval: wanted, persistent: false }, listener);
      intervalMs = wanted;
    },
    close: stop,
  };
  return watch;
}
