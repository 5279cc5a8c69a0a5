import { z } from 'zod';
import { adminGroupNames } from './presets/ocomms-admin-groups.ts';
import { byteSize } from './units.ts';

// Keys of the policies at the edge of the app: which networks reach its admin
// functions, which origins may act on it, and where browsers report CSP
// violations. They live apart from schema.ts so each reads as one block.

/** Checked by the caller with the same test as trustedProxies. */
export type CidrSchema = z.ZodType<string, string>;

export function adminAccessSchema(cidr: CidrSchema) {
  // A group uses the shared list unless it names its own, or false to stay open.
  const group = z.union([z.literal(false), z.strictObject({ allow: z.array(cidr).min(1) })]);
  const groups = Object.fromEntries(adminGroupNames.map((name) => [name, group.optional()]));
  return z
    .strictObject({
      // Empty: the policy is off. One network here turns it on for every group.
      allow: z.array(cidr).default([]),
      groups: z.strictObject(groups).prefault({}),
      // Next-Action ids of admin Server Actions: refused from other networks
      // whatever page they are posted to, since the id, not the URL, names them.
      actionIds: z.array(z.string().regex(/^[0-9a-f]{2,128}$/i, 'expected a hex id')).default([]),
    })
    .prefault({});
}

const origin = z.string().refine(isOrigin, {
  message: 'expected an origin: scheme, host and optional port, no path ("https://a.example")',
});

export const crossOriginSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    // Empty: https:// each of tls.domains, on the public HTTPS port.
    allowedOrigins: z.array(origin).default([]),
    // State changes that carry neither Origin nor Referer: refuse them when
    // they carry a cookie (a browser would have sent one of the two), refuse
    // all of them, or let them all through.
    withoutOrigin: z
      .enum(['refuse-with-cookies', 'refuse', 'allow'])
      .default('refuse-with-cookies'),
    preflight: z
      .strictObject({
        allowedMethods: z.array(z.string().regex(/^[A-Za-z]+$/)).default(['GET', 'POST']),
        allowedHeaders: z
          .array(z.string().regex(/^[A-Za-z0-9-]+$/))
          .default(['content-type', 'next-action', 'next-router-state-tree']),
        allowCredentials: z.boolean().default(true),
        maxAgeSeconds: z.number().int().min(0).max(86400).default(600),
      })
      .prefault({}),
  })
  .prefault({});

export const cspReportsSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    path: z
      .string()
      .regex(/^\/[A-Za-z0-9._~/-]*$/, 'expected a plain path')
      .default('/_guard/csp-report'),
    maxBytes: byteSize.default(16 * 1024),
    // Per client address (IPv6 by its prefix, as rate limits count it).
    limit: z.number().int().min(1).default(30),
    windowSeconds: z.number().int().min(1).default(60),
    // A Reporting API delivery may batch reports; more than this are dropped.
    maxReportsPerRequest: z.number().int().min(1).max(100).default(20),
  })
  .prefault({});

export function isOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return /^https?:$/.test(url.protocol) && url.origin === text.toLowerCase().replace(/\/$/, '');
  } catch {
    return false;
  }
}

export type AdminAccessConfig = z.output<ReturnType<typeof adminAccessSchema>>;
export type CrossOriginConfig = z.output<typeof crossOriginSchema>;
export type CspReportsConfig = z.output<typeof cspReportsSchema>;
