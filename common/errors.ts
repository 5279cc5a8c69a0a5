// The catalogue of stable error codes. Operators and clients see these codes;
// callers match on them, never on message text. docs/errors.md documents each.

export const errorCodes = {
  GUARD_ERR_CONFIG_INVALID: 'the configuration file does not validate',
  GUARD_ERR_CONFIG_READ: 'the configuration file cannot be read or parsed',
  GUARD_ERR_RUNTIME_UNSUPPORTED: 'the Node.js runtime lacks a required security fix',
  GUARD_ERR_TLS_MATERIAL: 'a certificate or key cannot be loaded',
  GUARD_ERR_LISTEN: 'a listener cannot bind its address',
  GUARD_ERR_BAD_REQUEST: 'the request is malformed',
  GUARD_ERR_HEADERS_TOO_LARGE: 'the request headers are too large or too many',
  GUARD_ERR_BODY_TOO_LARGE: 'the request body exceeds the limit of its route',
  GUARD_ERR_REQUEST_TIMEOUT: 'the client was too slow sending the request',
  GUARD_ERR_UNKNOWN_HOST: 'the requested host is not served here',
  GUARD_ERR_NOT_FOUND: 'the admin listener has no such endpoint',
  GUARD_ERR_LOCKOUT_STORE: 'the lockout command cannot reach the store or the admin listener',
  GUARD_ERR_UPSTREAM_UNREACHABLE: 'the upstream refused or did not accept the connection',
  GUARD_ERR_UPSTREAM_TIMEOUT: 'the upstream did not answer in time',
  GUARD_ERR_UPSTREAM_FAILED: 'the upstream broke the connection or answered invalidly',
  GUARD_ERR_AUDIT_NOT_CONFIGURED: 'an audit command needs audit.postgres in the configuration',
  GUARD_ERR_AUDIT_DATABASE: 'the audit database refused the connection or the query',
  GUARD_ERR_AUDIT_CHAIN_BROKEN: 'the audit hash chain has an altered, removed or inserted event',
  GUARD_ERR_SHUTTING_DOWN: 'the guard is stopping and takes no new requests',
  GUARD_ERR_DB_TUNNEL_CONNECT: 'the database server refused, dropped or did not answer in time',
  GUARD_ERR_DB_TUNNEL_NO_TLS: 'the database server did not agree to TLS as PostgreSQL clients do',
  GUARD_ERR_DB_TUNNEL_VERIFY: 'the database server certificate failed verification',
  GUARD_ERR_DB_TUNNEL_CLIENT: 'the database client spoke what the tunnel refuses, or went away',
  GUARD_ERR_DB_TUNNEL_DROPPED: 'an established database connection was broken off',
  GUARD_ERR_DB_TUNNEL_LIMIT: 'the tunnel holds dbTunnel.maxConnections connections already',
  GUARD_ERR_BODY_INVALID: 'the request body cannot be read as this route expects',
  GUARD_ERR_UNSUPPORTED_MEDIA_TYPE: 'the request body has a type or encoding not accepted here',
  GUARD_ERR_RATE_LIMITED: 'too many requests; try again later',
  GUARD_ERR_STORE_UNAVAILABLE: 'a required store is unavailable; try again shortly',
  GUARD_ERR_POLICY_FAILED: 'a security check could not be completed; try again shortly',
  GUARD_ERR_ACME_ACCOUNT: 'the ACME account cannot be created or loaded',
  GUARD_ERR_ACME_ORDER: 'the ACME server refused or failed a certificate order',
  GUARD_ERR_ACME_CHALLENGE: 'the ACME server could not validate a challenge for a name',
  GUARD_ERR_ACME_RATE_LIMITED: "the ACME server or the guard's own limit asks to wait",
  GUARD_ERR_ACME_UNREACHABLE: 'the ACME directory cannot be reached',
  GUARD_ERR_ACME_CHALLENGE_UNKNOWN: 'no ACME challenge is pending for this token and host',
  GUARD_ERR_ACME_ADMIN: 'the certificate command cannot reach the running guard',
  GUARD_ERR_RELOAD_FAILED: 'a valid configuration could not be put in service',
  GUARD_ERR_ADMIN_DENIED: 'the admin request carries no valid admin token',
  GUARD_ERR_ADMIN_UNREACHABLE: 'the running guard cannot be reached through its admin listener',
  GUARD_ERR_LOGIN_LOCKED: 'too many failed sign-in attempts; try again later',
  // In the app's own code style, since its sign-up form shows it as it does its own.
  PASSWORD_TOO_WEAK: 'the new password is too weak',
  GUARD_ERR_ADMIN_NETWORK: 'admin functions cannot be reached from this network',
  GUARD_ERR_ORIGIN_REFUSED: 'this request may not be sent from another site',
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class GuardError extends Error {
  readonly code: ErrorCode;
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, details: readonly string[] = []) {
    super(message);
    this.name = 'GuardError';
    this.code = code;
    this.details = details;
  }
}

export function isGuardError(value: unknown): value is GuardError {
  return value instanceof GuardError;
}
