import { request } from 'undici';
import type { TestGuard } from '../support/guard-harness.ts';

export type AuthAnswer = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
  text: string;
  /** name=value of every Set-Cookie. */
  cookies: string[];
};

// Posts to an auth route through the guard as the app's own pages do: JSON,
// with the app's Origin.
export async function postAuth(
  guard: TestGuard,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<AuthAnswer> {
  const encoded = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await request(`${guard.url}${path}`, {
    dispatcher: guard.agent,
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: guard.url, ...headers },
    body: encoded,
    ...(signal ? { signal } : {}),
  });
  const text = await response.body.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = {};
  }
  const setCookie = ([] as string[]).concat(response.headers['set-cookie'] ?? []);
  return {
    status: response.statusCode,
    headers: response.headers,
    body: parsed,
    text,
    cookies: setCookie.map((cookie) => cookie.split(';')[0] ?? ''),
  };
}

export function signIn(guard: TestGuard, email: string, password: string, cookie?: string) {
  return postAuth(guard, '/api/auth/sign-in/email', { email, password }, cookie ? { cookie } : {});
}
