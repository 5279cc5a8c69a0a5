import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { Subject } from './lockout-store.ts';

function digest(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/**
 * The part of every key that names an account; email text never enters a key.
 * Keys put it in braces, a Redis Cluster hash tag: one account, one slot.
 */
export function accountKey(account: string): string {
  return digest(`account\0${account}`, 32);
}

// One IPv6 subscriber usually holds a whole /64: counting per address there
// would let one attacker rotate through billions of them.
export function addressBucket(ip: string): string {
  if (!isIPv6(ip) || /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip)) return ip.replace(/^::ffff:/i, '');
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [
    ...left,
    ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'),
    ...right,
  ];
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group || '0', 16).toString(16))
    .join(':')}::/64`;
}

export type SubjectLimits = { maxFailures: number; maxFailuresPerAddress: number };

/** A browser without a valid device cookie: the account, and the account from this address. */
export function anonymousSubjects(account: string, ip: string, limits: SubjectLimits): Subject[] {
  const key = accountKey(account);
  const bucket = addressBucket(ip);
  return [
    { key: `{${key}}:a`, scope: 'account', account, label: '', maxFailures: limits.maxFailures },
    {
      key: `{${key}}:p:${digest(bucket, 24)}`,
      scope: 'address',
      account,
      label: bucket,
      maxFailures: limits.maxFailuresPerAddress,
    },
  ];
}

/** A browser with a valid device cookie for the account: its own counter only. */
export function deviceSubjects(account: string, deviceId: string, limits: SubjectLimits) {
  const subject: Subject = {
    key: `{${accountKey(account)}}:d:${digest(deviceId, 24)}`,
    scope: 'device',
    account,
    label: '',
    maxFailures: limits.maxFailures,
  };
  return [subject];
}
