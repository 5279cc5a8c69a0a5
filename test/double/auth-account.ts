import { isValidEmail } from './auth-sign-in.ts';
import {
  createSession,
  describeSession,
  expiredSessionCookies,
  findSession,
  readTwoFactorId,
  sessionCookies,
} from './double-sessions.ts';
import { type DoubleUser, type Exchange, generateId, publicUser } from './double-state.ts';
import { type Fields, sendEmpty, sendError, sendJson, stringField } from './http-helpers.ts';

const MIN_PASSWORD_LENGTH = 8;
const MAX_PASSWORD_LENGTH = 128;

/** POST /api/auth/sign-up/email; email verification is off, so a session starts at once. */
export function signUpEmail({ req, res, state }: Exchange, fields: Fields) {
  const name = stringField(fields, 'name');
  const email = stringField(fields, 'email');
  const password = stringField(fields, 'password');
  if (name === undefined || email === undefined || password === undefined) {
    return sendError(res, 400, 'VALIDATION_ERROR', 'Invalid body parameters');
  }
  if (!isValidEmail(email)) return sendError(res, 400, 'INVALID_EMAIL', 'Invalid email');
  if (rejectPassword(res, password)) return;
  if (state.users.has(email.toLowerCase())) {
    const message = 'User already exists. Use another email.';
    return sendError(res, 422, 'USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL', message);
  }

  const user: DoubleUser = {
    id: generateId(),
    email: email.toLowerCase(),
    name,
    password,
    emailVerified: true,
    twoFactorEnabled: false,
    role: 'member',
    createdAt: new Date(),
  };
  state.users.set(user.email, user);
  const session = createSession(state, user, req);
  const body = { token: session.token, user: publicUser(user) };
  sendJson(res, 200, body, sessionCookies(state, { session, user }));
}

/** POST /api/auth/sign-out: succeeds with or without a session, always expiring cookies. */
export function signOut({ req, res, state }: Exchange) {
  const signedIn = findSession(state, req.headers);
  if (signedIn !== undefined) state.sessions.delete(signedIn.session.token);
  const pendingId = readTwoFactorId(state, req.headers);
  if (pendingId !== undefined) state.pendingTwoFactor.delete(pendingId);
  sendJson(res, 200, { success: true }, expiredSessionCookies(state));
}

/** POST /api/auth/change-password */
export function changePassword({ req, res, state }: Exchange, fields: Fields) {
  const signedIn = findSession(state, req.headers);
  if (signedIn === undefined) return sendEmpty(res, 401);

  const currentPassword = stringField(fields, 'currentPassword');
  const newPassword = stringField(fields, 'newPassword');
  if (currentPassword === undefined || newPassword === undefined) {
    return sendError(res, 400, 'VALIDATION_ERROR', 'Invalid body parameters');
  }
  if (rejectPassword(res, newPassword)) return;
  const { user } = signedIn;
  if (user.password !== currentPassword) {
    return sendError(res, 400, 'INVALID_PASSWORD', 'Invalid password');
  }

  user.password = newPassword;
  if (fields.revokeOtherSessions !== true && fields.revokeOtherSessions !== 'true') {
    return sendJson(res, 200, { token: null, user: publicUser(user) });
  }
  for (const [token, session] of state.sessions) {
    if (session.userId === user.id) state.sessions.delete(token);
  }
  const session = createSession(state, user, req);
  const cookies = sessionCookies(state, { session, user });
  sendJson(res, 200, { token: session.token, user: publicUser(user) }, cookies);
}

/** POST /api/auth/request-password-reset: the same answer whether the account exists. */
export function requestPasswordReset({ res, state }: Exchange, fields: Fields) {
  const email = stringField(fields, 'email');
  if (email === undefined)
    return sendError(res, 400, 'VALIDATION_ERROR', 'Invalid body parameters');

  const user = state.users.get(email.toLowerCase());
  if (user !== undefined) user.resetToken = generateId(24);
  const message = 'If this email exists in our system, check your email for the reset link';
  sendJson(res, 200, { status: true, message });
}

/** POST /api/auth/reset-password; tokens come from `users.get(email).resetToken`. */
export function resetPassword({ res, state }: Exchange, fields: Fields) {
  const token = stringField(fields, 'token');
  const newPassword = stringField(fields, 'newPassword');
  if (newPassword === undefined) {
    return sendError(res, 400, 'VALIDATION_ERROR', 'Invalid body parameters');
  }
  const user = [...state.users.values()].find(
    (candidate) => token !== undefined && candidate.resetToken === token,
  );
  if (user === undefined) return sendError(res, 400, 'INVALID_TOKEN', 'Invalid token');
  if (rejectPassword(res, newPassword)) return;

  user.password = newPassword;
  delete user.resetToken;
  for (const [sessionToken, session] of state.sessions) {
    if (session.userId === user.id) state.sessions.delete(sessionToken);
  }
  sendJson(res, 200, { status: true });
}

/** GET /api/auth/get-session: `null`, not 401, when signed out. */
export function getSession({ req, res, state }: Exchange) {
  const signedIn = findSession(state, req.headers);
  sendJson(res, 200, signedIn === undefined ? null : describeSession(signedIn));
}

function rejectPassword(res: Exchange['res'], password: string): boolean {
  if (password.length < MIN_PASSWORD_LENGTH) {
    sendError(res, 400, 'PASSWORD_TOO_SHORT', 'Password too short');
    return true;
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    sendError(res, 400, 'PASSWORD_TOO_LONG', 'Password too long');
    return true;
  }
  return false;
}
