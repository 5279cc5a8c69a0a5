import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  createDeviceCookies,
  DEVICE_COOKIE_NAME,
  loadDeviceCookieKey,
} from '../../policies/device-cookie.ts';
import { addressBucket } from '../../policies/lockout-subjects.ts';
import { classifyOutcome, readErrorCode } from '../../policies/sign-in-outcome.ts';

const day = 24 * 3600 * 1000;
const now = Date.UTC(2026, 5, 1);

function cookieValueOf(setCookie: string): string {
  return setCookie.split(';')[0]?.slice(DEVICE_COOKIE_NAME.length + 1) ?? '';
}

describe('device cookies', () => {
  const cookies = createDeviceCookies(randomBytes(32), 90);
  const issued = cookies.issue('alice@example.com', now);
  const header = `other=1; ${DEVICE_COOKIE_NAME}=${cookieValueOf(issued)}`;

  it('are HttpOnly, Secure, host-only and strict', () => {
    expect(issued).toMatch(/^__Host-ocomms-guard-device=v1\.[\w-]+\.\d+\.[\w-]+\.[\w-]+; /);
    expect(issued).toContain('Path=/; Max-Age=7776000; HttpOnly; Secure; SameSite=Strict');
    expect(issued).not.toContain('alice');
  });

  it('vouch for their account only, until they expire', () => {
    expect(cookies.verify(header, 'alice@example.com', now + day)).toMatch(/^[\w-]{16,}$/);
    expect(cookies.verify(header, 'bob@example.com', now)).toBeUndefined();
    expect(cookies.verify(header, 'alice@example.com', now + 91 * day)).toBeUndefined();
    expect(cookies.verify(undefined, 'alice@example.com', now)).toBeUndefined();
  });

  it('keep the device id when renewed', () => {
    const deviceId = cookies.verify(header, 'alice@example.com', now);
    const renewed = cookies.issue('alice@example.com', now + day, deviceId);
    const again = `${DEVICE_COOKIE_NAME}=${cookieValueOf(renewed)}`;
    expect(cookies.verify(again, 'alice@example.com', now + day)).toBe(deviceId);
  });

  it('refuse tampered values and values signed with another key', () => {
    const parts = cookieValueOf(issued).split('.');
    parts[2] = String(Number(parts[2]) + 86400 * 365);
    const tampered = `${DEVICE_COOKIE_NAME}=${parts.join('.')}`;
    expect(cookies.verify(tampered, 'alice@example.com', now)).toBeUndefined();
    const foreign = createDeviceCookies(randomBytes(32), 90).issue('alice@example.com', now);
    const forged = `${DEVICE_COOKIE_NAME}=${cookieValueOf(foreign)}`;
    expect(cookies.verify(forged, 'alice@example.com', now)).toBeUndefined();
  });

  it('use a key made once in the data folder, readable by its owner only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'guard-device-'));
    const file = join(dir, 'lockout-device.key');
    const first = loadDeviceCookieKey(undefined, file);
    expect(loadDeviceCookieKey(undefined, file)).toEqual(first);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toBe('');
    const fromSecret = loadDeviceCookieKey('a'.repeat(32), file);
    expect(fromSecret).not.toEqual(first);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('sign-in answers', () => {
  it('are read from plain and compressed error bodies', () => {
    const body = Buffer.from('{"code":"INVALID_EMAIL_OR_PASSWORD","message":"Invalid"}');
    expect(readErrorCode(body, undefined)).toBe('INVALID_EMAIL_OR_PASSWORD');
    expect(readErrorCode(gzipSync(body), 'gzip')).toBe('INVALID_EMAIL_OR_PASSWORD');
    expect(readErrorCode(Buffer.from('not json'), undefined)).toBeUndefined();
    expect(readErrorCode(body, 'zstd')).toBeUndefined();
  });

  it('are classified as failure, success or neither', () => {
    expect(classifyOutcome('password', 401, 'INVALID_EMAIL_OR_PASSWORD')).toBe('failure');
    expect(classifyOutcome('password', 200, undefined)).toBe('success');
    expect(classifyOutcome('password', 401, 'INVALID_CODE')).toBe('neither');
    expect(classifyOutcome('second-factor', 401, 'INVALID_CODE')).toBe('failure');
    for (const status of [400, 403, 429, 500, 503]) {
      expect(classifyOutcome('password', status, 'INVALID_EMAIL_OR_PASSWORD')).toBe('neither');
    }
  });
});

describe('client addresses for the per-address counter', () => {
  it('group IPv6 by /64 and unwrap IPv4-mapped addresses', () => {
    expect(addressBucket('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressBucket('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(addressBucket('192.0.2.1')).toBe('192.0.2.1');
  });
});
