import type { RouteConfig } from '../schema.ts';

const mib = 1024 * 1024;

type PresetRoute = Pick<RouteConfig, 'name' | 'path'> & Partial<RouteConfig>;

// Bodies of the auth routes are read whole and inspected before anything
// reaches the app: the account a request names keys the rate limits, and the
// password policy reads the new password. Fields the guard relies on must
// have the type the app expects, so that an array or object cannot carry a
// second value past the inspection.
const both: RouteConfig['body'] & object = { contentTypes: ['json', 'urlencoded'], fields: {} };
const signInBody = { ...both, fields: { email: 'string', password: 'string' } } as const;
const signUpBody = {
  ...both,
  fields: { name: 'string', email: 'string', password: 'string' },
} as const;
const changeBody = {
  ...both,
  fields: { currentPassword: 'string', newPassword: 'string' },
} as const;
const requestResetBody = { ...both, fields: { email: 'string' } } as const;
const resetBody = { ...both, fields: { newPassword: 'string', token: 'string' } } as const;
const twoFactorBody = { ...both, fields: { code: 'string' } } as const;

// OComms' routes as the browser sends them (better-auth under /api/auth,
// uploads, Socket.IO). Auth routes are "sensitive": their bodies carry
// passwords and their answers carry session tokens, so later policies inspect
// them and nothing about them beyond method, path and status is ever logged.
const routes: PresetRoute[] = [
  {
    name: 'sign-in',
    path: '/api/auth/sign-in/email',
    methods: ['POST'],
    sensitive: true,
    body: signInBody,
  },
  {
    name: 'sign-up',
    path: '/api/auth/sign-up/email',
    methods: ['POST'],
    sensitive: true,
    body: signUpBody,
  },
  { name: 'sign-out', path: '/api/auth/sign-out', methods: ['POST'], sensitive: true },
  {
    name: 'two-factor-verify',
    path: '/api/auth/two-factor/',
    prefix: true,
    methods: ['POST'],
    sensitive: true,
    body: twoFactorBody,
  },
  {
    name: 'change-password',
    path: '/api/auth/change-password',
    methods: ['POST'],
    sensitive: true,
    body: changeBody,
  },
  {
    name: 'request-password-reset',
    path: '/api/auth/request-password-reset',
    methods: ['POST'],
    sensitive: true,
    body: requestResetBody,
  },
  {
    name: 'reset-password',
    path: '/api/auth/reset-password',
    methods: ['POST'],
    sensitive: true,
    body: resetBody,
  },
  // The link of a reset email, GET /api/auth/reset-password/<token>: the
  // token is a password for the account until it is used.
  {
    name: 'reset-password-link',
    path: '/api/auth/reset-password/',
    prefix: true,
    sensitive: true,
    secretInPath: true,
    maxBodyBytes: 64 * 1024,
  },
  { name: 'organization', path: '/api/auth/organization/', prefix: true, sensitive: true },
  { name: 'auth', path: '/api/auth/', prefix: true, sensitive: true, maxBodyBytes: 64 * 1024 },
  { name: 'admin', path: '/api/admin/', prefix: true },
  { name: 'upload-attachment', path: '/api/upload/attachment', maxBodyBytes: 26 * mib },
  { name: 'upload-avatar', path: '/api/upload/avatar', maxBodyBytes: 3 * mib },
  { name: 'upload-emoji', path: '/api/upload/emoji', maxBodyBytes: 256 * 1024 },
  { name: 'csp-report', path: '/api/csp-report', methods: ['POST'], maxBodyBytes: 64 * 1024 },
  { name: 'socket-io', path: '/socket.io/', prefix: true, maxBodyBytes: 1 * mib },
  { name: 'api', path: '/api/', prefix: true },
];

export const ocommsRoutes: readonly PresetRoute[] = routes;
