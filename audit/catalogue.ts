// The versioned catalogue of security events: one type per kind of event.
// A record's `version` names the shape of its fields; a change that alters
// what a field means or how the hash chain reads it takes a new version, and
// readers keep accepting every older one.
export const eventSchemaVersion = 1;

export const securityEventTypes = {
  'login.succeeded': 'a sign-in was accepted',
  'login.failed': 'a sign-in was refused by the app',
  'login.second_factor_required': 'a password was accepted and the second factor is due',
  logout: 'a session was ended',
  'signup.succeeded': 'an account was created',
  'signup.failed': 'a sign-up was refused by the app, or got no answer from it',
  'password.changed': 'a password was changed',
  'password.rejected': 'a new password was refused by the password policy',
  'password.reset_requested': 'a password reset was asked for',
  'password.reset_completed': 'a password was reset with a reset token',
  'account.locked': 'an account was locked after repeated failures',
  'account.unlocked': 'a lock was lifted, by time or by an administrator',
  'rate.limited': 'a request was refused by a rate limit',
  'admin.action': 'an administrative endpoint or Server Action was called',
  'csp.violation': 'a browser reported a Content-Security-Policy violation',
  'admin.network_denied': 'an admin function was asked for from a network not allowed',
  'origin.denied': 'a request from another site (Origin or Referer) was refused',
  'certificate.issued': 'a certificate was issued',
  'certificate.renewed': 'a certificate was renewed',
  'certificate.failed': 'issuing or renewing a certificate failed',
  'db_tunnel.server_rejected': 'the database tunnel refused a server (TLS or identity)',
  'config.reloaded': 'the configuration was reloaded',
  'config.reload_failed': 'a reload was refused; the running configuration stayed',
  'login.blocked': 'a sign-in was refused while its account was locked',
  'guard.started': 'the guard started',
  'guard.stopped': 'the guard stopped',
} as const;

export type SecurityEventType = keyof typeof securityEventTypes;

export const eventOutcomes = ['success', 'failure', 'denied', 'info'] as const;

export type EventOutcome = (typeof eventOutcomes)[number];

export function isCatalogued(type: string): type is SecurityEventType {
  return Object.hasOwn(securityEventTypes, type);
}
