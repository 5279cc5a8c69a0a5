import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An OComms account. Roles live in the organisation, never in the session. */
export type DoubleUser = {
  id: string;
  email: string;
  name: string;
  password: string;
  emailVerified: boolean;
  twoFactorEnabled: boolean;
  role: 'owner' | 'admin' | 'member';
  createdAt: Date;
  /** Set by request-password-reset, consumed by reset-password. */
  resetToken?: string;
};

export type DoubleSession = {
  id: string;
  token: string;
  userId: string;
  email: string;
  createdAt: Date;
  expiresAt: Date;
  ipAddress: string;
  userAgent: string;
};

export type DoubleState = {
  /** Keyed by lower-case email. */
  users: Map<string, DoubleUser>;
  /** Keyed by session token (the part of the cookie before the signature). */
  sessions: Map<string, DoubleSession>;
  /** Sign-ins waiting for their second factor, keyed by the two_factor cookie's id. */
  pendingTwoFactor: Map<string, { email: string; expiresAt: Date }>;
  secret: string;
  /** Production cookie names (`__Secure-` prefix, Secure flag). */
  secureCookies: boolean;
  /** BETTER_AUTH_URL; when unset the origin is taken from each request, as Next.js does. */
  publicUrl: string | undefined;
  requireSocketSession: boolean;
  /**
   * How long the auth routes wait before doing their work, as an app under load
   * would; the work is done even if the client has gone (as in a route handler).
   */
  authDelayMs: number;
};

export const SEEDED_PASSWORD = 'correct horse battery staple';
export const SEEDED_TOTP_CODE = '123456';

export function createState(options: {
  secureCookies?: boolean;
  publicUrl?: string;
  requireSocketSession?: boolean;
}): DoubleState {
  return {
    users: seedUsers(),
    sessions: new Map(),
    pendingTwoFactor: new Map(),
    secret: randomBytes(32).toString('hex'),
    secureCookies: options.secureCookies ?? false,
    publicUrl: options.publicUrl?.replace(/\/+$/, ''),
    requireSocketSession: options.requireSocketSession ?? false,
    authDelayMs: 0,
  };
}

function seedUsers(): Map<string, DoubleUser> {
  const seeds: Array<Omit<DoubleUser, 'id' | 'password' | 'createdAt'>> = [
    // alice owns the workspace; bob is an admin behind TOTP; carol never verified her
    // email; dave is a plain member, the non-admin to compare admins against.
    user('alice@example.com', 'Alice', 'owner'),
    { ...user('bob@example.com', 'Bob', 'admin'), twoFactorEnabled: true },
    { ...user('carol@example.com', 'Carol', 'member'), emailVerified: false },
    user('dave@example.com', 'Dave', 'member'),
  ];
  const createdAt = new Date('2025-01-01T00:00:00.000Z');
  return new Map(
    seeds.map((seed) => [
      seed.email,
      { ...seed, id: generateId(), password: SEEDED_PASSWORD, createdAt },
    ]),
  );
}

function user(
  email: string,
  name: string,
  role: DoubleUser['role'],
): Omit<DoubleUser, 'id' | 'password' | 'createdAt'> {
  return { email, name, role, emailVerified: true, twoFactorEnabled: false };
}

/** The user object better-auth puts in its responses: no password, no role. */
export function publicUser(user: DoubleUser): Record<string, unknown> {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    emailVerified: user.emailVerified,
    image: null,
    twoFactorEnabled: user.twoFactorEnabled,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.createdAt.toISOString(),
  };
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** better-auth's ids and tokens: 32 alphanumeric characters. */
export function generateId(length = 32): string {
  const bytes = randomBytes(length);
  let id = '';
  for (const byte of bytes) id += ID_ALPHABET[byte % ID_ALPHABET.length];
  return id;
}

/** One request being answered, with the double's state. */
export type Exchange = {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  state: DoubleState;
};
