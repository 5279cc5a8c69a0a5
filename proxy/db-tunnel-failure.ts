import type { ErrorCode } from '../common/errors.ts';

// Why a tunnelled connection ended badly. Each reason is a label value of
// guard_db_tunnel_failures_total and maps to one documented error code.
export const failureCodes = {
  connect_refused: 'GUARD_ERR_DB_TUNNEL_CONNECT',
  connect_timeout: 'GUARD_ERR_DB_TUNNEL_CONNECT',
  server_no_tls: 'GUARD_ERR_DB_TUNNEL_NO_TLS',
  server_protocol: 'GUARD_ERR_DB_TUNNEL_NO_TLS',
  alpn: 'GUARD_ERR_DB_TUNNEL_NO_TLS',
  tls_verify: 'GUARD_ERR_DB_TUNNEL_VERIFY',
  tls_handshake: 'GUARD_ERR_DB_TUNNEL_CONNECT',
  client_tls: 'GUARD_ERR_DB_TUNNEL_CLIENT',
  client_protocol: 'GUARD_ERR_DB_TUNNEL_CLIENT',
  client_timeout: 'GUARD_ERR_DB_TUNNEL_CLIENT',
  client_gone: 'GUARD_ERR_DB_TUNNEL_CLIENT',
  server_dropped: 'GUARD_ERR_DB_TUNNEL_DROPPED',
  limit: 'GUARD_ERR_DB_TUNNEL_LIMIT',
} as const satisfies Record<string, ErrorCode>;

export type FailureReason = keyof typeof failureCodes;
export type TunnelErrorCode = (typeof failureCodes)[FailureReason];

// What clients are told (in a PostgreSQL ErrorResponse) when the server side
// could not be set up: the code and a fixed sentence, never the server's
// address or the TLS library's wording, which stay in the guard's log.
export const clientMessages: Record<TunnelErrorCode, string> = {
  GUARD_ERR_DB_TUNNEL_CONNECT: 'the database server cannot be reached',
  GUARD_ERR_DB_TUNNEL_NO_TLS: 'the database server does not offer TLS',
  GUARD_ERR_DB_TUNNEL_VERIFY: 'the database server certificate was not accepted',
  GUARD_ERR_DB_TUNNEL_CLIENT: 'the client request was refused',
  GUARD_ERR_DB_TUNNEL_DROPPED: 'the database connection was broken off',
  GUARD_ERR_DB_TUNNEL_LIMIT: 'too many database connections through the guard',
};

export class TunnelFailure extends Error {
  readonly reason: FailureReason;
  /** The system or TLS error code behind it (ECONNREFUSED, CERT_HAS_EXPIRED), if any. */
  readonly causeCode: string | undefined;

  constructor(reason: FailureReason, detail: string, causeCode?: string) {
    super(detail);
    this.name = 'TunnelFailure';
    this.reason = reason;
    this.causeCode = causeCode;
  }

  get code(): TunnelErrorCode {
    return failureCodes[this.reason];
  }
}

export function isTunnelFailure(value: unknown): value is TunnelFailure {
  return value instanceof TunnelFailure;
}

// Node reports certificate problems with OpenSSL's verification codes
// (CERT_HAS_EXPIRED, SELF_SIGNED_CERT_IN_CHAIN, ...) and a wrong name with
// ERR_TLS_CERT_ALTNAME_INVALID.
const verificationCode = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY|DECRYPT|DECODE)|ISSUER|INVALID_CA/;

export function isVerificationError(code: string | undefined): boolean {
  return code !== undefined && (verificationCode.test(code) || code === 'PATH_LENGTH_EXCEEDED');
}
