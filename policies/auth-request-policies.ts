import type { AuthMetrics } from './auth-metrics.ts';
import type { InspectedBody } from './body-inspect.ts';
import type { Decision, RequestPolicy } from './decision.ts';
import type { LockoutPolicy, LoginTicket } from './lockout-policy.ts';
import type { PasswordPolicy } from './password-policy.ts';
import { MAX_OUTCOME_BODY_BYTES, readErrorCode } from './sign-in-outcome.ts';

// The sign-in policies as steps before forwarding. They read the bodies the
// preset's auth routes inspect: the new password of sign-up, change and reset,
// and the email of a sign-in; a second-factor attempt is tied to its account
// by the app's two_factor cookie.
const newPasswordFields: Record<string, { password: string; context: readonly string[] }> = {
  'sign-up': { password: 'password', context: ['email', 'name'] },
  'change-password': { password: 'newPassword', context: [] },
  'reset-password': { password: 'newPassword', context: [] },
};
const SECOND_FACTOR_PATH = /\/two-factor\/verify-(totp|otp|backup-code)$/;

function text(body: InspectedBody | undefined, name: string): string | undefined {
  const value = body?.fields[name];
  return typeof value === 'string' ? value : undefined;
}

export function buildPasswordRequestPolicy(
  password: PasswordPolicy,
  metrics: AuthMetrics,
): RequestPolicy {
  return {
    name: 'password',
    appliesTo: (method, _path, _target, route) =>
      password.enabled && method === 'POST' && Object.hasOwn(newPasswordFields, route.name),
    decide(request): Decision {
      const spec = newPasswordFields[request.route.name];
      const candidate = spec ? text(request.body, spec.password) : undefined;
      if (!spec || candidate === undefined) return { allow: true };

      const from = (field: string) =>
        spec.context.includes(field) ? text(request.body, field) : undefined;
      const decision = password.evaluate({
        password: candidate,
        email: from('email'),
        name: from('name'),
      });
      if (decision.allow) return { allow: true };
      metrics.passwordRejections.inc({ rule: decision.rule });
      return {
        allow: false,
        reply: { status: decision.status, code: decision.code, message: decision.message },
        // The rule, never the password.
        event: { type: 'password.rejected', outcome: 'denied', details: { rule: decision.rule } },
      };
    },
  };
}

export function buildLockoutRequestPolicy(lockout: LockoutPolicy): RequestPolicy {
  const stepOf = (routeName: string, path: string) => {
    if (routeName === 'sign-in') return 'password' as const;
    if (routeName === 'two-factor-verify' && SECOND_FACTOR_PATH.test(path)) {
      return 'second-factor' as const;
    }
    return undefined;
  };

  return {
    name: 'lockout',
    appliesTo: (method, path, _target, route) =>
      lockout.enabled && method === 'POST' && stepOf(route.name, path) !== undefined,
    async decide(request): Promise<Decision> {
      const step = stepOf(request.route.name, request.path);
      if (!step) return { allow: true };
      const cookie = request.headers.cookie;
      const admitted = await lockout.admit({
        step,
        email: step === 'password' ? text(request.body, 'email') : undefined,
        cookieHeader: Array.isArray(cookie) ? cookie.join('; ') : cookie,
        clientIp: request.client.ip,
        requestId: request.requestId,
        route: request.route.name,
      });
      // The lockout emits its own events, with the account, when it refuses.
      if (admitted.kind === 'refuse') return { allow: false, reply: admitted.refusal };
      if (admitted.kind === 'skip') return { allow: true };
      return { allow: true, after: watchOutcome(lockout, admitted.ticket) };
    },
  };
}

// Reads the app's answer: its status and Set-Cookie, and the code of an
// error body; nothing else of a body (success bodies carry session tokens).
function watchOutcome(lockout: LockoutPolicy, ticket: LoginTicket) {
  let setCookies: string[] = [];
  let encoding: string | string[] | undefined;
  return {
    bodyBytes: MAX_OUTCOME_BODY_BYTES,
    headers(status: number, headers: Record<string, string | string[] | undefined>) {
      setCookies = ([] as string[]).concat(headers['set-cookie'] ?? []);
      encoding = headers['content-encoding'];
      const added = lockout.responseCookies(ticket, status, setCookies);
      if (added.length > 0) headers['set-cookie'] = [...setCookies, ...added];
    },
    done(status: number, body: Buffer) {
      const code = status === 401 ? readErrorCode(body, encoding) : undefined;
      lockout.settle(ticket, status, code, setCookies).catch(() => {
        // settle() records store failures itself; nothing is left to do here.
      });
    },
  };
}
