import { dictionary } from '@zxcvbn-ts/language-common';

// The built-in blocklist: the most common passwords seen in public breach
// corpora, ranked by frequency, as shipped with the zxcvbn-ts common language
// package (about 49,000 entries). NIST SP 800-63B asks verifiers to refuse
// passwords found on such lists whatever their estimated strength.
const MIN_ENTRIES = 30_000;

export type Blocklist = {
  readonly size: number;
  has(password: string): boolean;
};

export function normaliseForBlocklist(password: string): string {
  return password.normalize('NFKC').toLowerCase();
}

function build(entries: readonly string[]): Blocklist {
  const set = new Set(entries.map(normaliseForBlocklist));
  return {
    size: set.size,
    has: (password) => set.has(normaliseForBlocklist(password)),
  };
}

let builtin: Blocklist | undefined;

export function builtinBlocklist(): Blocklist {
  if (builtin) return builtin;
  const entries = dictionary['passwords-common'];
  // A package update that dropped the list must not silently disable it.
  if (!Array.isArray(entries) || entries.length < MIN_ENTRIES) {
    throw new Error('the built-in password blocklist is missing or truncated');
  }
  builtin = build(entries as string[]);
  return builtin;
}

export const emptyBlocklist: Blocklist = { size: 0, has: () => false };
