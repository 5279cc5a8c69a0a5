import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, formatProblems, parseConfigText } from '../../config/load.ts';
import { type OcommsDouble, SEEDED_PASSWORD, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { sendRaw } from '../support/raw-http.ts';
import { waitFor } from '../support/wait-for.ts';

// Values planted in every place a secret travels; none may reach a log line.
const planted = {
  password: 'Planted-Password-4e1f9c',
  cookie: 'planted-cookie-7b2d',
  bearer: 'planted-bearer-91aa',
  basic: Buffer.from('ops:planted-basic-5c3e').toString('base64'),
  queryToken: 'planted-query-token-0d6b',
  resetToken: 'planted-reset-token-83f0',
  linkToken: 'planted-link-token-2a9d',
};

let app: OcommsDouble;
let guard: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  guard = await startTestGuard(app.url, { log: { level: 'trace' } });
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

async function send(path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await request(`${guard.url}${path}`, {
    dispatcher: guard.agent,
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', origin: guard.url, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

describe('secrets never reach the logs', () => {
  it('keeps passwords, cookies, tokens and credentials out of every log line', async () => {
    const signIn = await send('/api/auth/sign-in/email', {
      email: 'alice@example.com',
      password: SEEDED_PASSWORD,
    });
    expect(signIn.status).toBe(200);
    const sessionToken = (JSON.parse(signIn.text) as { token: string }).token;
    const setCookies = ([] as string[]).concat(signIn.headers['set-cookie'] ?? []);
    const cookieValues = setCookies.map((cookie) => cookie.split(';')[0]?.split('=')[1] ?? '');

    await send('/api/auth/sign-in/email', {
      email: 'alice@example.com',
      password: planted.password,
    });
    await send('/api/auth/sign-up/email', {
      name: 'Mallory',
      email: 'mallory@example.com',
      password: planted.password,
    });
    await send('/api/auth/reset-password', {
      newPassword: planted.password,
      token: planted.resetToken,
    });
    await send(`/api/auth/reset-password?token=${planted.queryToken}`, {
      newPassword: planted.password,
    });
    await send('/api/echo', undefined, {
      cookie: `better-auth.session_token=${planted.cookie}`,
      authorization: `Bearer ${planted.bearer}`,
    });
    await send('/api/echo', undefined, { authorization: `Basic ${planted.basic}` });
    await send(`/login?callbackURL=${planted.queryToken}`);
    // The link of a reset email carries its token in the path.
    await send(`/api/auth/reset-password/${planted.linkToken}?callbackURL=/reset-password`);
    await send(`/api/auth//Reset-Password/${planted.linkToken}`);
    const refusedLink = `TRACE /api/auth/reset-password/${planted.linkToken} HTTP/1.1`;
    const trace = await sendRaw(
      guard.guard.ports.https,
      guard.ca,
      `${refusedLink}\r\nHost: localhost\r\n\r\n`,
    );
    expect(trace).toMatch(/^HTTP\/1\.1 405 /);
    const foreign = { origin: 'https://evil.example' };
    const refused = await send(`/api/auth/reset-password/${planted.linkToken}`, {}, foreign);
    expect(refused.status).toBe(403);

    // Access lines are written in batches, shortly after each answer.
    const accessLines = () => guard.logs.filter((line) => line.msg === 'request').length;
    await waitFor(() => accessLines() >= 12, 5000);
    const text = guard.logText();
    const secrets = [
      ...Object.values(planted),
      SEEDED_PASSWORD,
      sessionToken,
      ...cookieValues.filter((value) => value.length > 8),
    ];
    for (const secret of secrets) expect(text, secret).not.toContain(secret);
  });

  it('never shows a value that came from the environment when it is invalid', () => {
    try {
      parseConfigText('upstream:\n  url: "${UPSTREAM}"\n', 'secret.yaml', {
        UPSTREAM: 'postgres://admin:planted-dsn-secret@db',
      });
      throw new Error('expected a refusal');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const text = formatProblems(error as ConfigError);
      expect(text).toContain('upstream.url');
      expect(text).not.toContain('planted-dsn-secret');
    }
  });
});
