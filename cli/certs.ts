import { resolve } from 'node:path';
import { directoryUrlOf } from '../acme/acme-manager.ts';
import { AcmeStorage, certificateIdOf } from '../acme/acme-storage.ts';
import type { Config } from '../config/schema.ts';
import { parseListenAddress } from '../config/units.ts';

type Row = {
  names: string;
  issuer: string;
  notAfter: string;
  renewAt: string;
  nextAttemptAt: string;
  lastError: string;
};

// `certs list` reads the data directory, so it works whether or not the
// guard runs; `certs renew` asks the running guard, whose listeners answer
// the challenges.
export function listCertificates(config: Config): number {
  const acme = config.tls.acme;
  if (config.tls.mode !== 'acme' || !acme) {
    process.stderr.write(`ocomms-guard: tls.mode is "${config.tls.mode}", not "acme"\n`);
    return 1;
  }
  const storage = new AcmeStorage(resolve(config.dataDir), directoryUrlOf(acme.directoryUrl));
  const groups = acme.certificates?.map((entry) => entry.names) ?? [config.tls.domains];
  const rows: Row[] = groups.map((names) => {
    const state = storage.readState(certificateIdOf(names), names);
    const error = state.lastError;
    return {
      names: names.join(','),
      issuer: state.issuer ?? '-',
      notAfter: state.notAfter ?? '-',
      renewAt: state.renewAt ? new Date(state.renewAt).toISOString() : '-',
      nextAttemptAt: state.notBefore ? new Date(state.notBefore).toISOString() : '-',
      lastError: error ? `${error.code} ${error.problemType ?? ''} ${error.at}`.trim() : '-',
    };
  });
  process.stdout.write(formatTable(rows));
  return 0;
}

export async function renewCertificates(config: Config, force: boolean): Promise<number> {
  const address =
    config.listen.admin === false ? undefined : parseListenAddress(config.listen.admin);
  if (!address) {
    process.stderr.write('ocomms-guard: GUARD_ERR_ACME_ADMIN: listen.admin is off\n');
    return 1;
  }
  const host = !address.host || address.host === '0.0.0.0' ? '127.0.0.1' : address.host;
  const authority = host.includes(':') ? `[${host === '::' ? '::1' : host}]` : host;
  const url = `http://${authority}:${address.port}/certs/renew${force ? '?force=1' : ''}`;
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(600_000) });
  } catch (error) {
    const reason = (error as { cause?: { code?: string } }).cause?.code ?? 'unreachable';
    process.stderr.write(`ocomms-guard: GUARD_ERR_ACME_ADMIN: guard not reachable (${reason})\n`);
    return 1;
  }
  const body = (await response.json()) as { certificates?: StatusLike[]; message?: string };
  if (!response.ok || !body.certificates) {
    process.stderr.write(
      `ocomms-guard: GUARD_ERR_ACME_ADMIN: ${body.message ?? response.status}\n`,
    );
    return 1;
  }
  process.stdout.write(formatTable(body.certificates.map(toRow)));
  return body.certificates.some((entry) => entry.lastError) ? 1 : 0;
}

type StatusLike = {
  names: string[];
  issuer?: string;
  notAfter?: string;
  renewAt?: string;
  nextAttemptAt?: string;
  lastError?: { code: string; problemType?: string; at: string };
};

function toRow(entry: StatusLike): Row {
  const error = entry.lastError;
  return {
    names: entry.names.join(','),
    issuer: entry.issuer ?? '-',
    notAfter: entry.notAfter ?? '-',
    renewAt: entry.renewAt ?? '-',
    nextAttemptAt: entry.nextAttemptAt ?? '-',
    lastError: error ? `${error.code} ${error.problemType ?? ''} ${error.at}`.trim() : '-',
  };
}

function formatTable(rows: Row[]): string {
  const header: Row = {
    names: 'NAMES',
    issuer: 'ISSUER',
    notAfter: 'NOT AFTER',
    renewAt: 'RENEWAL',
    nextAttemptAt: 'NEXT ATTEMPT',
    lastError: 'LAST ERROR',
  };
  const keys = Object.keys(header) as (keyof Row)[];
  const all = [header, ...rows];
  const widths = keys.map((key) => Math.max(...all.map((row) => row[key].length)));
  const lines = all.map((row) =>
    keys
      .map((key, index) => row[key].padEnd(widths[index] ?? 0))
      .join('  ')
      .trimEnd(),
  );
  return `${lines.join('\n')}\n`;
}
