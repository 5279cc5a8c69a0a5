import { type Stats, unwatchFile, watchFile } from 'node:fs';

export type FileWatch = { readonly intervalMs: number; close(): void };

// reload.watch: the configuration file is polled rather than watched with
// inotify, because editors and configuration tools replace the file by
// renaming a new one into place, which an inotify watch on the old file
// misses. Several writes in a row (an editor's save) make one call.
export function watchConfigFile(
  file: string,
  intervalMs: number,
  onChange: () => void,
  settleMs = 300,
): FileWatch {
  let pending: NodeJS.Timeout | undefined;
  const listener = (current: Stats, previous: Stats) => {
    const same = current.mtimeMs === previous.mtimeMs && current.size === previous.size;
    if (same && current.ino === previous.ino) return;
    if (pending) clearTimeout(pending);
    pending = setTimeout(onChange, settleMs);
    pending.unref();
  };
  watchFile(file, { interval: intervalMs, persistent: false }, listener);
  return {
    intervalMs,
    close() {
      if (pending) clearTimeout(pending);
      unwatchFile(file, listener);
    },
  };
}
