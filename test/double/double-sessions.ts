import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import {
  type DoubleSession,
  type DoubleState,
  type DoubleUser,
  generateId,
  publicUser,
} from './double-state.ts';
import { readCookies } from './http-helpers.ts';

const SESSION_MAX_AGE_SECONDS = 7 * 24 * 60 * 60;
const SESSION_DATA_MAX_AGE_SECONDS = 5 * 60;
const TWO_FACTOR_MAX_AGE_SECONDS = 10 * 60;

export type SignedInSession = { session: DoubleSession; user: DoubleUser };

export function cookieName(state: DoubleState, base: string): string {
  return `${state.secureCookies ? '__Secure-' : ''}better-auth.${base}`;
}

export function createSession(
  state: DoubleState,
  user: DoubleUser,
  req: IncomingMessage,
): DoubleSession {
  const now = new Date();
  const forwardedFor = req.headers['x-forwarded-for'];
  const firstForwarded = (Array.isArray(forwardedFor) ? forwardedFor[0] : forwardedFor)
    ?.split(',')[0]
    ?.trim();
  const session: DoubleSession = {
    id: generateId(),
    token: generateId(),
    userId: user.id,
    email: user.email,
    createdAt: now,
    expiresAt: new Date(now.getTime() + SESSION_MAX_AGE_SECONDS * 1000),
    // better-auth reads the client address from X-Forwarded-For by default.
    ipAddress: firstForwarded || req.socket.remoteAddress || '',
    userAgent: req.headers['user-agent'] ?? '',
  };
  state.sessions.set(session.token, session);
  return session;
}

/** The two Set-Cookie values of a fresh sign-in: signed token and 5-minute cache. */
export function sessionCookies(state: DoubleState, signedIn: SignedInSession): string[] {
  const expiresAt = Date.now() + SESSION_DATA_MAX_AGE_SECONDS * 1000;
  const data = { session: describeSession(signedIn), expiresAt };
  const encoded = Buffer.from(
    JSON.stringify({ ...data, signature: sign(state, JSON.stringify(data)) }),
  ).toString('base64url');

  return [
    setCookie(
      state,
      'session_token',
      signValue(state, signedIn.session.token),
      SESSION_MAX_AGE_SECONDS,
    ),
    setCookie(state, 'session_data', encoded, SESSION_DATA_MAX_AGE_SECONDS),
  ];
}

export function expiredSessionCookies(state: DoubleState): string[] {
  return [setCookie(state, 'session_token', '', 0), setCookie(state, 'session_data', '', 0)];
}

export function twoFactorCookie(state: DoubleState, pendingId: string | undefined): string {
  if (pendingId === undefined) return setCookie(state, 'two_factor', '', 0);
  return setCookie(state, 'two_factor', signValue(state, pendingId), TWO_FACTOR_MAX_AGE_SECONDS);
}

/** The session named by a validly signed, unexpired session_token cookie. */
export function findSession(
  state: DoubleState,
  headers: IncomingHttpHeaders,
): SignedInSession | undefined {
  const raw = readCookies(headers).get(cookieName(state, 'session_token'));
  const token = raw === undefined ? undefined : verifySignedValue(state, raw);
  const session = token === undefined ? undefined : state.sessions.get(token);
  if (session === undefined || session.expiresAt.getTime() <= Date.now()) return undefined;

  const user = state.users.get(session.email);
  return user === undefined ? undefined : { session, user };
}

export function readTwoFactorId(state: DoubleState, headers: IncomingHttpHeaders) {
  const raw = readCookies(headers).get(cookieName(state, 'two_factor'));
  return raw === undefined ? undefined : verifySignedValue(state, raw);
}

/** What get-session and sign-in answer: ISO dates, the user without secrets. */
export function describeSession({ session, user }: SignedInSession): Record<string, unknown> {
  return {
    session: {
      id: session.id,
      token: session.token,
      userId: session.userId,
      expiresAt: session.expiresAt.toISOString(),
      createdAt: session.createdAt.toISOString(),
      updatedAt: session.createdAt.toISOString(),
      ipAddress: session.ipAddress,
      userAgent: session.userAgent,
    },
    user: publicUser(user),
  };
}

function setCookie(state: DoubleState, base: string, value: string, maxAgeSeconds: number) {
  const attributes = `Max-Age=${maxAgeSeconds}; Path=/; HttpOnly; SameSite=Lax`;
  const secure = state.secureCookies ? '; Secure' : '';
  return `${cookieName(state, base)}=${encodeURIComponent(value)}; ${attributes}${secure}`;
}

/** `<value>.<base64 HMAC-SHA256>`, the form better-auth gives its signed cookies. */
function signValue(state: DoubleState, value: string): string {
  return `${value}.${sign(state, value)}`;
}

function verifySignedValue(state: DoubleState, signed: string): string | undefined {
  const dot = signed.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const value = signed.slice(0, dot);
  const given = Buffer.from(signed.slice(dot + 1));
  const expected = Buffer.from(sign(state, value));
  return given.length === expected.length && timingSafeEqual(given, expected) ? value : undefined;
}

function sign(state: DoubleState, value: string): string {
  return createHmac('sha256', state.secret).update(value).digest('base64');
}
