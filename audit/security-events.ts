import type { Logger } from '../common/log.ts';
import type { EventOutcome, SecurityEventType } from './catalogue.ts';

export type { SecurityEventType } from './catalogue.ts';
export { eventSchemaVersion, securityEventTypes } from './catalogue.ts';

// The contract every component emits security events through. Policies and
// listeners describe what happened; the audit trail decides where it goes.
// Details are bounded scalars chosen by the emitter: never a password, token,
// cookie or key.
export type SecurityEventInput = {
  /**
   * Dotted lower-case type from the catalogue (audit/catalogue.ts), for
   * example `rate.limited`. A type outside it is still recorded, as sent.
   */
  readonly type: SecurityEventType | (string & {});
  readonly outcome: EventOutcome;
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
  /** Returns at once: no sink is waited for on the request path. */
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
