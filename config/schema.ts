import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { auditSchema } from './audit-schema.ts';
import { refineCsp } from './csp-values.ts';
import { dbTunnelSchema } from './db-tunnel-schema.ts';
import { adminAccessSchema, crossOriginSchema, cspReportsSchema } from './edge-schema.ts';
import {
  checkContentTypeOptions,
  checkFrameOptions,
  checkOpenerPolicy,
  checkReferrerPolicy,
  checkTransportSecurity,
  fieldValue,
  refineHeader,
  refineHeaderName,
  type ValueCheck,
} from './header-values.ts';
import { lockoutSchema } from './lockout-schema.ts';
import { passwordPolicySchema } from './password-schema.ts';
import {
  bodyInspectionSchema,
  bodyRuleSchema,
  rateLimitsSchema,
  storeSchema,
} from './policy-schema.ts';
import { dropRequestHeadersSchema } from './request-headers-schema.ts';
import { byteSize, listenAddress, milliseconds } from './units.ts';

const headerMode = z.enum(['set', 'keep', 'default']);

// A header is a value, {value, mode}, or false to send none at all.
const headerSetting = z.union([
  z.literal(false),
  z.string().min(1),
  z.strictObject({ value: z.string().min(1), mode: headerMode.default('set') }),
]);

const cspSetting = z.union([
  z.literal(false),
  z.string().min(1),
  z.strictObject({
    directives: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
    reportOnly: z.boolean().default(false),
    nonce: z.boolean().default(false),
    mode: headerMode.default('set'),
  }),
]);

const headerFields = {
  strictTransportSecurity: checked(checkTransportSecurity),
  contentSecurityPolicy: cspSetting.superRefine(refineCsp).optional(),
  xFrameOptions: checked(checkFrameOptions),
  xContentTypeOptions: checked(checkContentTypeOptions),
  referrerPolicy: checked(checkReferrerPolicy),
  permissionsPolicy: checked(),
  crossOriginOpenerPolicy: checked(checkOpenerPolicy),
  cacheControl: checked(),
};

// Each header's value is checked on its own, so one bad value hides no other.
function checked(check?: ValueCheck) {
  return headerSetting.superRefine(refineHeader(fieldValue(check))).optional();
}

const headerName = z.string().superRefine(refineHeaderName);
const pathHeaders = z.strictObject({ ...headerFields, remove: z.array(headerName).optional() });

const headersSchema = z.strictObject({
  ...headerFields,
  remove: z.array(headerName).default(['Server', 'X-Powered-By']),
  paths: z.record(z.string().startsWith('/'), pathHeaders).default({}),
});

export function isCidr(text: string): boolean {
  const [address, bits, extra] = text.split('/');
  if (extra !== undefined || !address) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  const prefix = Number(bits);
  const max = family === 4 ? 32 : 128;
  if (!/^\d+$/.test(bits) || prefix > max) return false;
  try {
    new BlockList().addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
    return true;
  } catch {
    return false;
  }
}

const cidr = z.string().refine(isCidr, { message: 'expected an IP address or CIDR block' });

const method = z
  .string()
  .regex(/^[A-Za-z]+$/)
  .transform((text) => text.toUpperCase());

export const routeSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'expected lower-case words joined by "-"'),
  path: z.string().startsWith('/'),
  prefix: z.boolean().default(false),
  methods: z.array(method).optional(),
  maxBodyBytes: byteSize.optional(),
  sensitive: z.boolean().default(false),
  /** What follows `path` is a secret (a token): logs show the route's path instead. */
  secretInPath: z.boolean().default(false),
  /** Present: the body is read whole and inspected before anything is forwarded. */
  body: bodyRuleSchema.optional(),
});

function missingUrl(issue: { input?: unknown }): string | undefined {
  return issue.input === undefined ? 'required: the address of the app' : undefined;
}

const acmeChallenge = z.enum(['http-01', 'tls-alpn-01']);

// Let's Encrypt by name, or any RFC 8555 directory (a private CA, Pebble).
const directoryUrl = z.union([
  z.enum(['letsencrypt', 'letsencrypt-staging']),
  z.url({ protocol: /^https$/ }),
]);

const acmeSchema = z.strictObject({
  directoryUrl: directoryUrl.default('letsencrypt'),
  email: z.email().optional(),
  acceptTermsOfService: z.boolean().default(false),
  externalAccountBinding: z
    .strictObject({ kid: z.string().min(1), hmacKey: z.string().min(1) })
    .optional(),
  challenges: z.array(acmeChallenge).min(1).default(['http-01', 'tls-alpn-01']),
  caBundle: z.string().min(1).optional(),
  keyType: z.enum(['ecdsa-p256', 'rsa-2048']).default('ecdsa-p256'),
  certificates: z
    .array(z.strictObject({ names: z.array(z.string().min(1)).min(1).max(100) }))
    .min(1)
    .optional(),
});

const tlsSchema = z.strictObject({
  mode: z.enum(['internal', 'files', 'acme']).default('internal'),
  domains: z.array(z.string().min(1)).min(1).default(['localhost']),
  files: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  leafValidityDays: z.number().int().min(1).max(397).default(30),
  acme: acmeSchema.optional(),
});

export const configSchema = z
  .strictObject({
    preset: z.enum(['ocomms', 'none']).default('ocomms'),
    listen: z
      .strictObject({
        https: listenAddress.default(':8443'),
        http: z.union([listenAddress, z.literal(false)]).default(':8080'),
        admin: z.union([listenAddress, z.literal(false)]).default('127.0.0.1:9090'),
        publicHttpsPort: z.number().int().min(1).max(65535).optional(),
      })
      .default({ https: ':8443', http: ':8080', admin: '127.0.0.1:9090' }),
    upstream: z.strictObject({
      url: z.url({ protocol: /^https?$/, error: missingUrl }),
      connectTimeoutMs: milliseconds.default(3000),
      responseTimeoutMs: milliseconds.default(60000),
      bodyIdleTimeoutMs: milliseconds.default(300000),
      connections: z.number().int().positive().default(128),
      ca: z.string().min(1).optional(),
      dropRequestHeaders: dropRequestHeadersSchema,
    }),
    trustedProxies: z.array(cidr).default([]),
    rejectUnknownHosts: z.boolean().default(false),
    dataDir: z.string().min(1).default('./data'),
    tls: tlsSchema.default({ mode: 'internal', domains: ['localhost'], leafValidityDays: 30 }),
    limits: z
      .strictObject({
        maxHeaderBytes: byteSize.default(16384),
        maxHeadersCount: z.number().int().min(16).max(1000).default(100),
        maxBodyBytes: byteSize.default(4 * 1024 * 1024),
        headersTimeoutMs: milliseconds.default(15000),
        requestTimeoutMs: milliseconds.default(300000),
        bodyIdleTimeoutMs: milliseconds.default(30000),
        keepAliveTimeoutMs: milliseconds.default(5000),
        shutdownTimeoutMs: milliseconds.default(10000),
      })
      .prefault({}),
    routes: z.array(routeSchema).default([]),
    headers: headersSchema.prefault({}),
    store: storeSchema,
    rateLimits: rateLimitsSchema,
    rateLimitSettings: z
      .strictObject({
        ipv6PrefixLength: z.number().int().min(32).max(128).default(64),
        // The app's calls to its own public URL come from here; never limited.
        exemptSources: z.array(cidr).default([]),
      })
      .prefault({}),
    bodyInspection: bodyInspectionSchema,
    reload: z
      .strictObject({
        watch: z.boolean().default(false),
        watchIntervalMs: milliseconds.min(200).default(1000),
      })
      .prefault({}),
    audit: auditSchema.prefault({}),
    passwordPolicy: passwordPolicySchema.prefault({}),
    lockout: lockoutSchema.prefault({}),
    adminAccess: adminAccessSchema(cidr),
    crossOrigin: crossOriginSchema,
    cspReports: cspReportsSchema,
    log: z
      .strictObject({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info'),
        // One line per request at info; security events are logged either way.
        access: z.boolean().default(true),
      })
      .prefault({}),
    dbTunnel: dbTunnelSchema.optional(),
  })
  .superRefine((config, context) => {
    if (config.tls.mode === 'files' && !config.tls.files) {
      context.addIssue({
        code: 'custom',
        path: ['tls', 'files'],
        message: 'tls.mode "files" needs tls.files.cert and tls.files.key',
        input: undefined,
      });
    }
    if (config.tls.mode === 'acme') checkAcme(config, context);
  });

type AcmeCheck = {
  tls: z.output<typeof tlsSchema>;
  listen: { http: string | false };
};

// What ACME can do here: HTTP-01 needs the plain-HTTP listener, and neither
// challenge can prove a wildcard name (that takes DNS-01).
function checkAcme(config: AcmeCheck, context: z.core.$RefinementCtx<unknown>): void {
  const acme = config.tls.acme;
  if (!acme?.acceptTermsOfService) {
    context.addIssue({
      code: 'custom',
      path: ['tls', 'acme', 'acceptTermsOfService'],
      message: 'tls.mode "acme" needs tls.acme.acceptTermsOfService: true (the CA\'s terms)',
      input: acme?.acceptTermsOfService,
    });
    return;
  }
  const names = acme.certificates?.flatMap((entry) => entry.names) ?? config.tls.domains;
  const wildcard = names.find((name) => name.includes('*'));
  if (wildcard) {
    context.addIssue({
      code: 'custom',
      path: ['tls', acme.certificates ? 'acme' : 'domains'],
      message: 'wildcard names need the DNS-01 challenge, which the guard does not offer',
      input: wildcard,
    });
  }
  const usable = acme.challenges.filter((type) => type !== 'http-01' || config.listen.http);
  if (usable.length === 0) {
    context.addIssue({
      code: 'custom',
      path: ['tls', 'acme', 'challenges'],
      message: 'http-01 needs listen.http; add tls-alpn-01 or turn the listener on',
      input: acme.challenges,
    });
  }
}

export type Config = z.output<typeof configSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type HeadersConfig = Config['headers'];
export type HeaderSetting = z.output<typeof headerSetting>;
export type CspSetting = z.output<typeof cspSetting>;
export type RateLimitSettings = Config['rateLimitSettings'];
export type AcmeConfig = z.output<typeof acmeSchema>;
