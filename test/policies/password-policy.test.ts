import { describe, expect, it } from 'vitest';
import { type PasswordPolicyConfig, passwordPolicySchema } from '../../config/password-schema.ts';
import { builtinBlocklist } from '../../policies/password-blocklist.ts';
import { buildPasswordPolicy, countCodePoints } from '../../policies/password-policy.ts';

function policy(overrides: Partial<PasswordPolicyConfig> = {}) {
  return buildPasswordPolicy(passwordPolicySchema.parse(overrides));
}

const strong = 'blue-kettle-orbit-7';
const alice = { email: 'Alice.Smith@example.com', name: 'Alice Smith' };

describe('password policy defaults', () => {
  const defaults = policy();

  it('has the documented defaults', () => {
    expect(passwordPolicySchema.parse({})).toEqual({
      enabled: true,
      minLength: 12,
      maxLength: 128,
      minScore: 3,
      blocklist: 'builtin',
      minCharacterClasses: 0,
    });
  });

  it('accepts a long unguessable passphrase without character-class rules', () => {
    expect(defaults.evaluate({ password: strong, ...alice })).toMatchObject({ allow: true });
    expect(defaults.evaluate({ password: 'correct horse battery staple' }).allow).toBe(true);
  });

  it('refuses 11 characters and names the minimum', () => {
    const decision = defaults.evaluate({ password: 'x7$kP!qz9Lm' });
    expect(decision).toMatchObject({
      allow: false,
      status: 400,
      code: 'PASSWORD_TOO_WEAK',
      rule: 'too-short',
      message: 'Use at least 12 characters.',
    });
  });

  it('counts code points, not UTF-16 units', () => {
    expect(countCodePoints('🔒'.repeat(12), 128)).toBe(12);
    expect(countCodePoints('é'.repeat(5), 128)).toBe(5);
    const lenient = policy({ minScore: 0, blocklist: 'none' });
    // 11 emoji are 22 UTF-16 units but 11 characters: too short.
    expect(lenient.evaluate({ password: '🐢🦊🐙🦉🐝🦀🐧🦋🐌🦎🐳' })).toMatchObject({
      rule: 'too-short',
    });
    expect(lenient.evaluate({ password: '🐢🦊🐙🦉🐝🦀🐧🦋🐌🦎🐳🦔' }).allow).toBe(true);
  });

  it('refuses more than 128 code points, the app maximum', () => {
    const decision = defaults.evaluate({ password: `${strong}-`.repeat(7) });
    expect(decision).toMatchObject({ allow: false, rule: 'too-long' });
    expect(defaults.evaluate({ password: 'a'.repeat(128) }).allow).toBe(false);
  });

  it('refuses a megabyte-long password by its length alone', () => {
    const huge = 'x7$kP!qz9'.repeat(120_000);
    const started = performance.now();
    const decision = defaults.evaluate({ password: huge });
    const elapsedMs = performance.now() - started;
    expect(decision).toMatchObject({ rule: 'too-long' });
    // Generous on a shared machine; the estimator alone takes far longer.
    expect(elapsedMs).toBeLessThan(20);
  });

  it('refuses common passwords with advice the UI can show', () => {
    const decision = defaults.evaluate({ password: 'qwerty123456' });
    expect(decision.allow).toBe(false);
    if (decision.allow) return;
    expect(['blocklisted', 'too-guessable']).toContain(decision.rule);
    expect(decision.message.length).toBeGreaterThan(20);
  });

  it('treats the email and name as guessable context', () => {
    const password = 'alice.smith2024!';
    expect(defaults.evaluate({ password }).allow).toBe(true);
    const decision = defaults.evaluate({ password, ...alice });
    expect(decision).toMatchObject({ allow: false, rule: 'too-guessable' });
    if (decision.allow) return;
    expect(decision.message).toMatch(/^This password is too easy to guess\. \S/);
    expect(decision.suggestions.length).toBeGreaterThan(0);
  });
});

describe('password policy blocklist', () => {
  it('ships tens of thousands of entries', () => {
    expect(builtinBlocklist().size).toBeGreaterThan(40_000);
  });

  it('refuses a listed password whatever its estimated score, ignoring case', () => {
    const lenient = policy({ minScore: 0 });
    expect(lenient.evaluate({ password: 'mailcreated5240' })).toMatchObject({
      allow: false,
      rule: 'blocklisted',
    });
    expect(lenient.evaluate({ password: 'MailCreated5240' })).toMatchObject({
      rule: 'blocklisted',
    });
  });

  it('can be switched off', () => {
    const open = policy({ minScore: 0, blocklist: 'none' });
    expect(open.evaluate({ password: 'mailcreated5240' }).allow).toBe(true);
  });
});

describe('password policy options', () => {
  it('applies character-class rules only when asked', () => {
    const password = 'correcthorsebatterystaple';
    expect(policy().evaluate({ password }).allow).toBe(true);
    const classes = policy({ minCharacterClasses: 3 });
    expect(classes.evaluate({ password })).toMatchObject({ rule: 'character-classes' });
    expect(classes.evaluate({ password: 'Correct-horse-battery-9' }).allow).toBe(true);
  });

  it('raises and lowers the minimum score', () => {
    const password = 'smithalice4ever';
    expect(policy().evaluate({ password })).toMatchObject({ allow: true, score: 3 });
    expect(policy({ minScore: 4 }).evaluate({ password })).toMatchObject({
      rule: 'too-guessable',
    });
    expect(
      policy({ minScore: 0, blocklist: 'none' }).evaluate({ password: 'a'.repeat(12) }),
    ).toMatchObject({ allow: true });
  });

  it('moves the length bounds', () => {
    const short = policy({ minLength: 8, minScore: 0 });
    expect(short.evaluate({ password: 'kettle42' }).allow).toBe(true);
    const capped = policy({ maxLength: 20 });
    expect(capped.evaluate({ password: `${strong}-extra` })).toMatchObject({ rule: 'too-long' });
  });

  it('refuses contradictory bounds in the configuration', () => {
    const result = passwordPolicySchema.safeParse({ minLength: 64, maxLength: 32 });
    expect(result.success).toBe(false);
  });
});
