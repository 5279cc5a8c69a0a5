import { type ConnectionOptions, checkServerIdentity } from 'node:tls';
import type pg from 'pg';
import type { Logger } from '../common/log.ts';
import { readTlsMaterial } from '../common/tls-material.ts';
import type { AuditPostgresConfig } from '../config/audit-schema.ts';

export type DatabaseTarget = { host: string; port: number; database: string; user: string };

// The connection is built from parts, never from the URL string, so neither
// a query parameter nor PGSSLMODE in the environment can weaken TLS, and the
// password never appears in a message.
export function databaseTarget(config: AuditPostgresConfig): DatabaseTarget {
  const url = new URL(config.url);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : 5432,
    database: decodeURIComponent(url.pathname.slice(1)),
    user: decodeURIComponent(url.username),
  };
}

export function poolOptions(config: AuditPostgresConfig): pg.PoolConfig {
  const target = databaseTarget(config);
  const url = new URL(config.url);
  const password = config.password ?? (url.password ? decodeURIComponent(url.password) : '');
  return {
    ...target,
    password,
    ssl: tlsOptions(config, target.host),
    max: 2,
    connectionTimeoutMillis: config.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'ocomms-guard',
    // A statement that hangs must not hold the spool back forever.
    statement_timeout: 30_000,
    query_timeout: 35_000,
  };
}

function tlsOptions(config: AuditPostgresConfig, host: string): ConnectionOptions | false {
  const tls = config.tls;
  if (tls.mode === 'disable') return false;
  const files: ConnectionOptions = {
    ...(tls.ca ? { ca: readTlsMaterial(tls.ca, 'audit.postgres.tls.ca') } : {}),
    ...(tls.cert ? { cert: readTlsMaterial(tls.cert, 'audit.postgres.tls.cert') } : {}),
    ...(tls.key ? { key: readTlsMaterial(tls.key, 'audit.postgres.tls.key') } : {}),
  };
  if (tls.mode === 'require') return { ...files, rejectUnauthorized: false };
  if (tls.mode === 'verify-ca') {
    return { ...files, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  }
  // verify-full: the chain up to the CA, and the configured host name (or IP
  // address) in the certificate, checked by Node's own rules.
  return {
    ...files,
    rejectUnauthorized: true,
    checkServerIdentity: (_name, cert) => checkServerIdentity(host, cert),
  };
}

/** Says at start, loudly, that the audit database is reached without verified TLS. */
export function warnIfInsecure(config: AuditPostgresConfig, logger: Logger): void {
  if (config.tls.mode === 'verify-full') return;
  const target = databaseTarget(config);
  logger.error(
    { host: target.host, port: target.port, tlsMode: config.tls.mode },
    'audit database connection is not verified: insecure setting in use',
  );
}

export type DatabaseFailure = { reason: 'tls' | 'unreachable' | 'auth' | 'schema' | 'other' };

// Sorts a connection or query error for logs and metrics without its text,
// which may quote a host, a user or a value.
export function classifyDatabaseError(error: unknown): DatabaseFailure['reason'] {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : '';
  if (typeof code === 'string' && /^(ERR_TLS|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED)/.test(code)) {
    return 'tls';
  }
  if (/does not support SSL|SSL connection/i.test(message)) return 'tls';
  if (code === '28P01' || code === '28000') return 'auth';
  if (code === '42P01' || code === '42501' || code === '42703') return 'schema';
  if (typeof code === 'string' && /^(ECONN|ETIMEDOUT|EHOST|ENOTFOUND|EPIPE|57P)/.test(code)) {
    return 'unreachable';
  }
  if (/timeout|terminat|Connection ended|connect/i.test(message)) return 'unreachable';
  return 'other';
}
