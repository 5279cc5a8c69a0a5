import { z } from 'zod';
import { byteSize, milliseconds } from './units.ts';

// Only verify-full checks both the CA and the host name; the other modes are
// accepted only with `insecure: true`, which the guard logs loudly at start.
export const databaseTlsModes = ['verify-full', 'verify-ca', 'require', 'disable'] as const;

const postgresUrl = z.string().min(1).refine(isPlainPostgresUrl, {
  message: 'expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE without query parameters',
});

function isPlainPostgresUrl(text: string): boolean {
  try {
    const url = new URL(text);
    const protocol = url.protocol === 'postgres:' || url.protocol === 'postgresql:';
    return protocol && url.hostname !== '' && url.search === '' && url.pathname.length > 1;
  } catch {
    return false;
  }
}

const postgresSchema = z.strictObject({
  url: postgresUrl,
  password: z.string().min(1).optional(),
  tls: z
    .strictObject({
      mode: z.enum(databaseTlsModes).default('verify-full'),
      ca: z.string().min(1).optional(),
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
    })
    .prefault({}),
  insecure: z.boolean().default(false),
  migrate: z.boolean().default(true),
  batchEvents: z.number().int().min(1).max(1000).default(200),
  connectTimeoutMs: milliseconds.default(5000),
});

export const auditSchema = z
  .strictObject({
    identity: z.enum(['plain', 'pseudonymised']).default('plain'),
    identityKey: z.string().min(32, 'expected at least 32 characters').optional(),
    chainKey: z.string().min(32, 'expected at least 32 characters').optional(),
    retentionDays: z.number().int().min(1).optional(),
    spool: z
      .strictObject({
        maxBytes: byteSize.default(256 * 1024 * 1024),
        warnBytes: byteSize.default(16 * 1024 * 1024),
        flushMs: milliseconds.default(50),
      })
      .prefault({}),
    postgres: postgresSchema.optional(),
  })
  .superRefine((audit, context) => {
    const add = (path: string[], message: string) =>
      context.addIssue({ code: 'custom', path, message, input: undefined });
    if (audit.identity === 'pseudonymised' && !audit.identityKey) {
      add(['identityKey'], 'identity "pseudonymised" needs audit.identityKey (a secret)');
    }
    const postgres = audit.postgres;
    if (!postgres) return;
    if (postgres.tls.mode !== 'verify-full' && !postgres.insecure) {
      add(
        ['postgres', 'tls', 'mode'],
        `"${postgres.tls.mode}" does not verify the server; use verify-full, ` +
          'or set audit.postgres.insecure: true to accept the risk',
      );
    }
    if (Boolean(postgres.tls.cert) !== Boolean(postgres.tls.key)) {
      add(['postgres', 'tls'], 'a client certificate needs both tls.cert and tls.key');
    }
  });

export type AuditConfig = z.output<typeof auditSchema>;
export type AuditPostgresConfig = NonNullable<AuditConfig['postgres']>;
