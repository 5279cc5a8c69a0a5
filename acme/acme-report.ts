import type { SecurityEvents } from '../audit/security-events.ts';
import type { Logger } from '../common/log.ts';
import type { AcmeError } from './acme-problem.ts';
import type { CertificateState } from './acme-storage.ts';

type Sinks = { readonly logger: Logger; readonly events: SecurityEvents };
type Subject = { readonly id: string; readonly names: readonly string[]; state: CertificateState };
type Issued = { notAfter: Date; issuer: string; fingerprint: string };

// Certificate outcomes for operators (a log line) and for the audit trail (a
// security event). Both carry names, dates, codes and the CA's problem type:
// never a key, and nothing from the account.
export function reportIssued(sinks: Sinks, subject: Subject, issued: Issued, renewing: boolean) {
  const renewAt = new Date(subject.state.renewAt ?? 0).toISOString();
  sinks.logger.info(
    { certificate: subject.id, names: subject.names, notAfter: issued.notAfter, renewAt },
    renewing ? 'certificate renewed' : 'certificate issued',
  );
  sinks.events.emit({
    type: renewing ? 'certificate.renewed' : 'certificate.issued',
    outcome: 'success',
    details: {
      certificate: subject.id,
      names: subject.names.join(','),
      issuer: issued.issuer,
      notAfter: issued.notAfter.toISOString(),
      fingerprint: issued.fingerprint,
    },
  });
}

export function reportFailed(sinks: Sinks, subject: Subject, error: AcmeError, nowMs: number) {
  const problemType = error.problem?.type;
  const nextAttemptAt = new Date(subject.state.notBefore ?? nowMs).toISOString();
  // The detail is the CA's own sentence (or the client's), naming the
  // identifier and the reason; it holds no key or token.
  const detail = subject.state.lastError?.detail;
  sinks.logger.error(
    {
      certificate: subject.id,
      names: subject.names,
      code: error.code,
      problemType,
      detail,
      nextAttemptAt,
    },
    'certificate order failed',
  );
  sinks.events.emit({
    type: 'certificate.failed',
    outcome: 'failure',
    details: {
      certificate: subject.id,
      names: subject.names.join(','),
      code: error.code,
      problemType: problemType ?? null,
      failures: subject.state.failures,
      nextAttemptAt,
    },
  });
}
