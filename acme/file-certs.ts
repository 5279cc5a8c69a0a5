import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from '../common/log.ts';
import type { CertificatePair, CertificateStore } from './cert-store.ts';

export type FileCertificates = { reload(): boolean; close(): void };

// tls.mode "files": certificates managed by someone else (certbot, a company
// CA). They are read again when either file changes, or on reload; a pair
// that does not load is reported and the one in service stays.
export function watchCertificateFiles(
  files: { cert: string; key: string },
  store: CertificateStore,
  logger: Logger,
  pollMs = 2000,
): FileCertificates {
  const reload = (): boolean => {
    let pair: CertificatePair;
    try {
      pair = { cert: readFileSync(files.cert), key: readFileSync(files.key) };
      const installed = store.install(pair);
      logger.info({ names: installed.names, notAfter: installed.notAfter }, 'certificate loaded');
      return true;
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'invalid';
      logger.error({ err: { code }, cert: files.cert }, 'certificate files rejected');
      return false;
    }
  };

  // Polling sees the rename-into-place and symlink swaps that renewal tools do,
  // which inotify-based watching can miss.
  // A renewal writes two files; waiting a moment reads them as one pair.
  let pending: NodeJS.Timeout | undefined;
  const onChange = () => {
    if (pending) clearTimeout(pending);
    pending = setTimeout(reload, 300);
    pending.unref();
  };
  watchFile(files.cert, { interval: pollMs, persistent: false }, onChange);
  watchFile(files.key, { interval: pollMs, persistent: false }, onChange);

  return {
    reload,
    close() {
      if (pending) clearTimeout(pending);
      unwatchFile(files.cert, onChange);
      unwatchFile(files.key, onChange);
    },
  };
}
