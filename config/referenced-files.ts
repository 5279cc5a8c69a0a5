import { type Inspected, inspectCertificates, inspectPrivateKey } from '../common/tls-material.ts';
import type { Config } from './schema.ts';

export type FileProblem = { path: string[]; file: string; message: string };

type Pair = { cert?: string | undefined; key?: string | undefined };

// What `check` adds to the schema: every certificate and key file the
// configuration names is read and parsed, a key is matched to its
// certificate, and the certificate the guard serves must be valid today.
// Relative paths are taken from the current folder, as the guard does.
export function checkReferencedFiles(config: Config, now = new Date()): FileProblem[] {
  const problems: FileProblem[] = [];
  const { tls, upstream, store, audit, dbTunnel } = config;

  if (tls.files) checkPair(problems, ['tls', 'files'], tls.files, now);
  if (tls.acme?.caBundle)
    checkCertificates(problems, ['tls', 'acme', 'caBundle'], tls.acme.caBundle);
  if (upstream.ca) checkCertificates(problems, ['upstream', 'ca'], upstream.ca);
  if (store.redis?.ca) checkCertificates(problems, ['store', 'redis', 'ca'], store.redis.ca);

  const database = audit.postgres?.tls;
  if (database?.ca) checkCertificates(problems, ['audit', 'postgres', 'tls', 'ca'], database.ca);
  if (database) checkPair(problems, ['audit', 'postgres', 'tls'], database, undefined);
  if (dbTunnel) {
    checkCertificates(problems, ['dbTunnel', 'tls', 'ca'], dbTunnel.tls.ca);
    checkPair(problems, ['dbTunnel', 'tls'], dbTunnel.tls, undefined);
  }
  return problems;
}

function checkCertificates(problems: FileProblem[], path: string[], file: string) {
  return taken(problems, path, file, inspectCertificates(file));
}

function checkKey(problems: FileProblem[], path: string[], file: string) {
  return taken(problems, path, file, inspectPrivateKey(file));
}

function taken<T>(problems: FileProblem[], path: string[], file: string, found: Inspected<T>) {
  if ('value' in found) return found.value;
  problems.push({ path, file, message: found.problem });
  return undefined;
}

// A certificate with its key. `now` is given for the certificate the guard
// serves itself; a client certificate's dates are the server's to judge.
function checkPair(problems: FileProblem[], at: string[], pair: Pair, now: Date | undefined) {
  const certs = pair.cert ? checkCertificates(problems, [...at, 'cert'], pair.cert) : undefined;
  const key = pair.key ? checkKey(problems, [...at, 'key'], pair.key) : undefined;
  const leaf = certs?.[0];
  if (!leaf || !pair.cert) return;

  if (key && !leaf.checkPrivateKey(key)) {
    problems.push({
      path: [...at, 'key'],
      file: pair.key ?? '',
      message: `the key does not belong to the first certificate in ${at.join('.')}.cert`,
    });
  }
  if (!now) return;
  if (new Date(leaf.validTo) < now) {
    problems.push({
      path: [...at, 'cert'],
      file: pair.cert,
      message: `the certificate expired on ${new Date(leaf.validTo).toISOString()}`,
    });
  } else if (new Date(leaf.validFrom) > now) {
    problems.push({
      path: [...at, 'cert'],
      file: pair.cert,
      message: `the certificate is not valid before ${new Date(leaf.validFrom).toISOString()}`,
    });
  }
}
