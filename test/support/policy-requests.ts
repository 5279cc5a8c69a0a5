import { request } from 'undici';
import { ocommsRateLimits } from '../../config/presets/ocomms-rate-limits.ts';
import type { TestGuard } from './guard-harness.ts';

/** The preset's rules, each switched off: listed rules replace preset ones by name. */
export function presetLimitsOff(): Record<string, unknown>[] {
  return ocommsRateLimits.map((rule) => ({ ...rule, enabled: false }));
}

/**
 * Lockout and password policy off, for tests of other policies that sign in
 * with wrong passwords or sign up with test passwords on purpose.
 */
export function authPoliciesOff(): Record<string, unknown> {
  return { lockout: { enabled: false }, passwordPolicy: { enabled: false } };
}

/** The limit of a preset rule, so tests follow the preset when it changes. */
export function presetLimit(name: string): number {
  const rule = ocommsRateLimits.find((entry) => entry.name === name);
  if (!rule) throw new Error(`no preset rule ${name}`);
  return rule.limit;
}

export type Answer = { status: number; headers: Record<string, unknown>; text: string };

let clientCounter = 0;

/** A client address of its own, sent as X-Forwarded-For through a trusted 127.0.0.1. */
export function freshClientIp(): string {
  clientCounter += 1;
  const pid = process.pid % 250;
  return `10.${pid}.${Math.floor(clientCounter / 250) % 250}.${clientCounter % 250}`;
}

export async function send(
  guard: TestGuard,
  path: string,
  options: {
    method?: string;
    body?: string | Buffer;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  const response = await request(`${guard.url}${path}`, {
    dispatcher: guard.agent,
    method: (options.method ?? (options.body === undefined ? 'GET' : 'POST')) as 'POST',
    headers: { origin: guard.url, ...options.headers },
    body: options.body,
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

export function postJson(
  guard: TestGuard,
  path: string,
  value: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const body = JSON.stringify(value);
  return send(guard, path, { body, headers: { 'content-type': 'application/json', ...headers } });
}
