import { z } from 'zod';

const seconds = z
  .number()
  .int()
  .min(1)
  .max(30 * 24 * 3600);

// SEC-07. Defaults: five failures in fifteen minutes lock the account for 15,
// then 30, then 60 minutes. The device cookie keeps a victim's own browser out
// of reach of a lock an attacker provokes (OWASP's device-cookie advice).
export const lockoutSchema = z.strictObject({
  enabled: z.boolean().default(true),
  maxFailures: z.number().int().min(1).max(1000).default(5),
  maxFailuresPerAddress: z.number().int().min(1).max(1000).default(5),
  windowSeconds: seconds.default(900),
  lockSeconds: z.array(seconds).min(1).max(16).default([900, 1800, 3600]),
  escalationMemorySeconds: seconds.default(86400),
  deviceCookie: z.boolean().default(true),
  deviceCookieDays: z.number().int().min(1).max(400).default(90),
  /** HMAC key material; absent, a key is made once in dataDir. */
  deviceCookieSecret: z.string().min(32, 'expected at least 32 characters').optional(),
  onStoreError: z.enum(['memory', 'allow', 'deny']).default('memory'),
});

export type LockoutConfig = z.output<typeof lockoutSchema>;
