import type { RateLimitRuleConfig } from '../policy-schema.ts';

type PresetRule = Omit<RateLimitRuleConfig, 'match' | 'onStoreError' | 'enabled'> & {
  match: { path: string; prefix?: boolean; methods?: string[]; handshakeOnly?: boolean };
};

const post = ['POST'];

// Limits for OComms, tighter than the app's own (sign-in 5, sign-up 3 and
// reset requests 3 per minute per spoofable address; password change 3 per
// 10 s) and keyed on what an attacker cannot choose: the client address as
// the guard resolves it, and the account the body names. Password guessing is
// slowed further by the lockout; these rules bound the rate and the mail an
// attacker can make the app send. Per-account rules have no block time: anyone
// can spend an account's points, so they only ever hold it for the rest of
// the window. GET /api/auth/get-session is deliberately absent: the app's
// middleware calls it for every protected page.
const rules: PresetRule[] = [
  ip('sign-in', '/api/auth/sign-in/email', 5, 60, 300),
  account('sign-in-account', '/api/auth/sign-in/email', 10, 60, 0),
  ip('sign-up', '/api/auth/sign-up/email', 3, 600, 600),
  account('sign-up-account', '/api/auth/sign-up/email', 2, 600, 0),
  ip('request-password-reset', '/api/auth/request-password-reset', 3, 600, 600),
  account('request-password-reset-account', '/api/auth/request-password-reset', 3, 900, 0),
  ip('reset-password', '/api/auth/reset-password', 5, 600, 600),
  ip('change-password', '/api/auth/change-password', 5, 60, 300),
  {
    name: 'change-password-session',
    match: { path: '/api/auth/change-password', methods: post },
    key: ['session'],
    limit: 3,
    windowSeconds: 60,
    blockSeconds: 300,
  },
  {
    name: 'two-factor',
    match: { path: '/api/auth/two-factor/', prefix: true, methods: post },
    key: ['ip'],
    limit: 5,
    windowSeconds: 60,
    blockSeconds: 300,
  },
  {
    name: 'organization',
    match: { path: '/api/auth/organization/', prefix: true, methods: post },
    key: ['ip'],
    limit: 30,
    windowSeconds: 60,
    blockSeconds: 60,
  },
  {
    name: 'admin',
    match: { path: '/api/admin/', prefix: true },
    key: ['ip'],
    limit: 30,
    windowSeconds: 60,
    blockSeconds: 60,
  },
  {
    name: 'upload',
    match: { path: '/api/upload/', prefix: true, methods: post },
    key: ['ip'],
    limit: 30,
    windowSeconds: 60,
    blockSeconds: 60,
  },
  {
    name: 'socket-io-handshake',
    match: { path: '/socket.io/', prefix: true, methods: ['GET', 'POST'], handshakeOnly: true },
    key: ['ip'],
    limit: 30,
    windowSeconds: 60,
    blockSeconds: 60,
  },
];

function ip(name: string, path: string, limit: number, windowSeconds: number, block: number) {
  const rule: PresetRule = {
    name,
    match: { path, methods: post },
    key: ['ip'],
    limit,
    windowSeconds,
    blockSeconds: block,
  };
  return rule;
}

function account(name: string, path: string, limit: number, windowSeconds: number, block: number) {
  return { ...ip(name, path, limit, windowSeconds, block), key: ['account'] } as PresetRule;
}

export const ocommsRateLimits: readonly PresetRule[] = rules;
