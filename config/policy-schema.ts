import { z } from 'zod';
import { byteSize, milliseconds } from './units.ts';

// Keys of the shared store, the rate-limit rules and the body inspection of
// auth routes. They live apart from schema.ts so each policy's keys read as
// one block.

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected "host:port"');

export const storeSchema = z
  .strictObject({
    redis: z
      .strictObject({
        // One server; with sentinel or cluster, only its scheme (rediss://
        // for TLS), credentials and database are used.
        url: z.url({ protocol: /^rediss?$/ }),
        sentinel: z
          .strictObject({
            masterName: z.string().min(1),
            nodes: z.array(hostPort).min(1),
            password: z.string().min(1).optional(),
          })
          .optional(),
        cluster: z.strictObject({ nodes: z.array(hostPort).min(1) }).optional(),
        keyPrefix: z.string().default('guard:'),
        // Short on purpose: a request waits for Redis at most this long
        // before the rule's onStoreError decides.
        commandTimeoutMs: milliseconds.min(10).default(250),
        connectTimeoutMs: milliseconds.min(10).default(2000),
        ca: z.string().min(1).optional(),
      })
      .refine((redis) => !(redis.sentinel && redis.cluster), {
        message: 'name either sentinel or cluster, not both',
      })
      // A CA next to a plaintext url means TLS was meant and is not in use.
      .superRefine((redis, context) => {
        if (!redis.ca || new URL(redis.url).protocol !== 'redis:') return;
        context.addIssue({
          code: 'custom',
          path: ['ca'],
          message: 'a CA is only used over TLS, but the url is plaintext redis://: use rediss://',
          input: redis.ca,
        });
      })
      .optional(),
  })
  .prefault({});

const method = z
  .string()
  .regex(/^[A-Za-z]+$/)
  .transform((text) => text.toUpperCase());

export const rateLimitRuleSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'expected lower-case words joined by "-"'),
  match: z.strictObject({
    path: z.string().startsWith('/'),
    prefix: z.boolean().default(false),
    methods: z.array(method).min(1).optional(),
    // Socket.IO: count only requests that open a session (no `sid` given).
    handshakeOnly: z.boolean().default(false),
  }),
  key: z
    .array(z.enum(['ip', 'account', 'session']))
    .min(1)
    .refine((parts) => new Set(parts).size === parts.length, { message: 'a key part is repeated' }),
  limit: z.number().int().min(1),
  windowSeconds: z.number().int().min(1),
  blockSeconds: z.number().int().min(0).default(0),
  onStoreError: z.enum(['memory', 'allow', 'deny']).default('memory'),
  enabled: z.boolean().default(true),
});

// Each rule counts under its own name, so two rules of one name would share
// counters; the second is refused.
export const rateLimitsSchema = z
  .array(rateLimitRuleSchema)
  .superRefine((rules, context) => {
    const seen = new Set<string>();
    rules.forEach((rule, index) => {
      if (seen.has(rule.name)) {
        context.addIssue({
          code: 'custom',
          path: [index, 'name'],
          message: `a rule named "${rule.name}" is listed twice`,
          input: rule.name,
        });
      }
      seen.add(rule.name);
    });
  })
  .default([]);

export const bodyRuleSchema = z.strictObject({
  contentTypes: z
    .array(z.enum(['json', 'urlencoded']))
    .min(1)
    .default(['json', 'urlencoded']),
  fields: z.record(z.string(), z.enum(['string', 'number', 'boolean'])).default({}),
});

export const bodyInspectionSchema = z
  .strictObject({
    maxBytes: byteSize.default(16 * 1024),
    maxDecodedBytes: byteSize.default(64 * 1024),
    maxRatio: z.number().min(1).default(20),
    encodings: z.enum(['decode', 'refuse']).default('decode'),
  })
  .prefault({});

export type StoreConfig = z.output<typeof storeSchema>;
export type RateLimitRuleConfig = z.output<typeof rateLimitRuleSchema>;
export type BodyRuleConfig = z.output<typeof bodyRuleSchema>;
export type BodyInspectionConfig = z.output<typeof bodyInspectionSchema>;
