import { z } from 'zod';

// SEC-04. Defaults follow NIST SP 800-63B rev. 4: length over composition, a
// blocklist of common and breached passwords, no character-class rules unless
// an operator asks for them. 128 is the app's own maximum.
export const passwordPolicySchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    minLength: z.number().int().min(8).max(128).default(12),
    maxLength: z.number().int().min(8).max(1024).default(128),
    minScore: z.number().int().min(0).max(4).default(3),
    blocklist: z.enum(['builtin', 'none']).default('builtin'),
    minCharacterClasses: z.number().int().min(0).max(4).default(0),
  })
  .superRefine((policy, context) => {
    if (policy.minLength <= policy.maxLength) return;
    context.addIssue({
      code: 'custom',
      path: ['minLength'],
      message: `minLength must not exceed maxLength (${policy.maxLength})`,
      input: policy.minLength,
    });
  });

export type PasswordPolicyConfig = z.output<typeof passwordPolicySchema>;
