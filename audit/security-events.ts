import type { Logger } from '../common/log.ts';

// The contract every component emits security events through. Policies and
// listeners describe what happened; the audit trail decides where it goes.
// Details are bounded scalars chosen by the emitter: never a password, token,
// cookie or key.
export type SecurityEventInput = {
  /** Dotted lower-case type from the catalogue, for example `rate.limited`. */
  readonly type: string;
  readonly outcome: 'success' | 'failure' | 'denied' | 'info';
  readonly actor?: { readonly account?: string; readonly userId?: string };
  readonly clientIp?: string;
  readonly userAgent?: string;
  readonly requestId?: string;
  readonly route?: string;
  readonly method?: string;
  readonly path?: string;
  readonly status?: number;
  readonly details?: Readonly<Record<string, string | number | boolean | null>>;
};

export type SecurityEvents = {
  emit(event: SecurityEventInput): void;
};

// The sink that is always there: one structured log line per event.
export function createLogEvents(logger: Logger): SecurityEvents {
  return {
    emit(event) {
      logger.info({ event }, 'security event');
    },
  };
}
