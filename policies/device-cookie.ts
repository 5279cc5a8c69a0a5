import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

// OWASP's device cookie: after a successful sign-in the guard gives the
// browser a signed cookie naming the account. A sign-in that carries a valid
// one is judged by its own per-device counter, not by the account-wide lock,
// so an attacker's failures cannot lock the owner out of their usual browser.
//
// The value is "v1.<device id>.<issued, seconds>.<account tag>.<mac>": the
// account appears only as a keyed hash, the MAC covers everything before it.
export const DEVICE_COOKIE_NAME = '__Host-ocomms-guard-device';

const TAG_BYTES = 16;

export type DeviceCookies = {
  /** The device id of a valid cookie for this account, if the request has one. */
  verify(cookieHeader: string | undefined, account: string, nowMs: number): string | undefined;
  /** A Set-Cookie value for this account, keeping the device id when there is one. */
  issue(account: string, nowMs: number, deviceId?: string): string;
};

export function loadDeviceCookieKey(secret: string | undefined, keyFile: string): Buffer {
  if (secret !== undefined) {
    return createHmac('sha256', 'ocomms-guard device cookie').update(secret).digest();
  }
  if (existsSync(keyFile)) return Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64url');
  const key = randomBytes(32);
  mkdirSync(dirname(keyFile), { recursive: true });
  try {
    writeFileSync(keyFile, `${key.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another guard on the same dataDir made it first: use theirs.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64url');
  }
  chmodSync(keyFile, 0o600);
  return key;
}

export function createDeviceCookies(key: Buffer, maxAgeDays: number): DeviceCookies {
  const maxAgeSeconds = maxAgeDays * 24 * 3600;
  const mac = (text: string) =>
    createHmac('sha256', key).update(`mac\0${text}`).digest().subarray(0, TAG_BYTES);
  const tag = (account: string) =>
    createHmac('sha256', key)
      .update(`account\0${account}`)
      .digest()
      .subarray(0, TAG_BYTES)
      .toString('base64url');

  const check = (value: string, account: string, nowMs: number): string | undefined => {
    const parts = value.split('.');
    if (parts.length !== 5 || parts[0] !== 'v1') return undefined;
    const [, deviceId = '', issued = '', accountTag = '', signature = ''] = parts;
    const expected = mac(parts.slice(0, 4).join('.'));
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const issuedSeconds = Number(issued);
    if (!Number.isInteger(issuedSeconds)) return undefined;
    if (issuedSeconds * 1000 + maxAgeSeconds * 1000 <= nowMs) return undefined;
    if (accountTag !== tag(account)) return undefined;
    return /^[A-Za-z0-9_-]{16,64}$/.test(deviceId) ? deviceId : undefined;
  };

  return {
    verify(cookieHeader, account, nowMs) {
      for (const value of cookieValues(cookieHeader, DEVICE_COOKIE_NAME)) {
        const deviceId = check(value, account, nowMs);
        if (deviceId) return deviceId;
      }
      return undefined;
    },
    issue(account, nowMs, deviceId = randomBytes(16).toString('base64url')) {
      const body = `v1.${deviceId}.${Math.floor(nowMs / 1000)}.${tag(account)}`;
      const value = `${body}.${mac(body).toString('base64url')}`;
      const attributes = `Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=Strict`;
      return `${DEVICE_COOKIE_NAME}=${value}; ${attributes}`;
    },
  };
}

/** Every value of one cookie in a Cookie header (a browser may send several). */
export function cookieValues(cookieHeader: string | undefined, name: string): string[] {
  if (!cookieHeader) return [];
  const values: string[] = [];
  for (const pair of cookieHeader.split(';')) {
    const at = pair.indexOf('=');
    if (at <= 0 || pair.slice(0, at).trim() !== name) continue;
    values.push(pair.slice(at + 1).trim());
  }
  return values;
}
