import type { IncomingHttpHeaders } from 'node:http';
import { firstValue } from './session-owners.ts';

export type AdminAction = {
  readonly kind: 'endpoint' | 'server-action';
  /** The Server Action id from Next-Action, the only thing that names the action. */
  readonly actionId: string | null;
};

const organizationPrefix = '/api/auth/organization/';
const settingsPage = /^\/[^/]+\/settings(?:\/|$)/;
const actionIdPattern = /^[A-Za-z0-9_-]{1,128}$/;

// OComms has no admin prefix of its own: administration happens through the
// admin API, emoji uploads, the organisation endpoints of better-auth, and
// Server Actions posted to the workspace settings pages. Paths are the
// guard's normalised form, so /API//admin/./export is still recognised.
export function adminActionFor(
  method: string,
  path: string,
  headers: IncomingHttpHeaders,
): AdminAction | undefined {
  if (path.startsWith('/api/admin/') || path.startsWith(organizationPrefix)) {
    return { kind: 'endpoint', actionId: null };
  }
  if (path === '/api/upload/emoji' && method === 'POST')
    return { kind: 'endpoint', actionId: null };
  const header = headers['next-action'];
  if (method !== 'POST' || header === undefined || !settingsPage.test(path)) return undefined;
  const value = firstValue(header);
  const actionId = value !== undefined && actionIdPattern.test(value) ? value : 'invalid';
  return { kind: 'server-action', actionId };
}

const sessionCookieNames = ['__Secure-better-auth.session_token', 'better-auth.session_token'];

/** The session token a request carries (without its signature), if any. */
export function requestSessionToken(headers: IncomingHttpHeaders): string | undefined {
  const header = headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!sessionCookieNames.includes(name)) continue;
    const token = unsigned(part.slice(eq + 1).trim());
    if (token) return token;
  }
  return undefined;
}

export type IssuedSession = { token: string; ttlSeconds: number };

/** The session token a response sets, with the cookie's lifetime in seconds. */
export function issuedSession(setCookie: string | string[] | undefined): IssuedSession | undefined {
  const cookies = setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie];
  for (const cookie of cookies) {
    const [pair = '', ...attributes] = cookie.split(';');
    const eq = pair.indexOf('=');
    if (eq < 0 || !sessionCookieNames.includes(pair.slice(0, eq).trim())) continue;
    const token = unsigned(pair.slice(eq + 1).trim());
    const ttlSeconds = lifetimeSeconds(attributes);
    if (token && ttlSeconds > 0) return { token, ttlSeconds };
  }
  return undefined;
}

// Max-Age wins over Expires (RFC 6265, 5.3); a cookie with neither lives for
// the browser session, which the app bounds at its seven days.
function lifetimeSeconds(attributes: string[]): number {
  let expires: number | undefined;
  for (const attribute of attributes) {
    const [rawName = '', ...rest] = attribute.split('=');
    const name = rawName.trim().toLowerCase();
    const value = rest.join('=').trim();
    if (name === 'max-age' && /^-?\d+$/.test(value)) return Number(value);
    if (name === 'expires') {
      const time = Date.parse(value);
      if (!Number.isNaN(time)) expires = Math.floor((time - Date.now()) / 1000);
    }
  }
  return expires ?? 7 * 24 * 60 * 60;
}

// better-auth signs the cookie as <token>.<signature>; the token is what
// names the session, the signature changes nothing about whose it is.
function unsigned(raw: string): string | undefined {
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  const dot = value.lastIndexOf('.');
  const token = dot > 0 ? value.slice(0, dot) : value;
  return token.length > 0 && token.length <= 512 ? token : undefined;
}
