import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthAnswer, postAuth, signIn } from '../auth/auth-client.ts';
import { type OcommsDouble, SEEDED_PASSWORD, startOcommsDouble } from '../double/ocomms-double.ts';
import { type AuditDb, startAuditDb, waitFor } from '../support/audit-db.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { presetLimitsOff } from '../support/policy-requests.ts';

// Sign-ups, sign-outs and password changes and resets, driven through a
// running guard to the OComms double, read back from PostgreSQL over TLS.

let app: OcommsDouble;
let db: AuditDb;
let guard: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  db = await startAuditDb();
  guard = await startTestGuard(app.url, {
    log: { level: 'trace' },
    rateLimits: presetLimitsOff(),
    audit: db.audit(),
  });
  await waitFor(() => db.count() >= 1, 'the schema and the start event');
});
afterAll(async () => {
  await guard.close();
  await app.close();
  db.close();
});

const SIGN_UP = '/api/auth/sign-up/email';
const SIGN_OUT = '/api/auth/sign-out';
const CHANGE = '/api/auth/change-password';
const REQUEST_RESET = '/api/auth/request-password-reset';
const RESET = '/api/auth/reset-password';

type Row = {
  type: string;
  outcome: string;
  account: string;
  userId: string;
  status: string;
  appStatus: string;
  code: string;
  knownUser: string;
};

const rowColumns = [
  'type',
  'outcome',
  "coalesce(actor_account, '-')",
  "coalesce(actor_user_id, '-')",
  'status',
  "coalesce(details->>'appStatus', '-')",
  "coalesce(details->>'code', '-')",
  "coalesce(details->>'knownUser', '-')",
].join(', ');

function rowsOf(requestId: string): Row[] {
  const text = db.pg.psql(
    `select ${rowColumns} from guard_audit_events ` +
      `where request_id = '${requestId}' order by row_no`,
  );
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [type = '', outcome = '', account = '', userId = '', status = '', ...rest] =
        line.split('|');
      const [appStatus = '', code = '', knownUser = ''] = rest;
      return { type, outcome, account, userId, status, appStatus, code, knownUser };
    });
}

/** The one event of an answer, once it is stored. */
async function eventOf(answer: AuthAnswer): Promise<Row> {
  const requestId = String(answer.headers['x-request-id']);
  expect(requestId).toMatch(/^[\w-]+$/);
  await waitFor(() => rowsOf(requestId).length >= 1, `the event of ${requestId}`);
  const rows = rowsOf(requestId);
  expect(rows).toHaveLength(1);
  return rows[0] as Row;
}

function cookieOf(answer: AuthAnswer): string {
  return answer.cookies.filter((cookie) => !cookie.endsWith('=')).join('; ');
}

function signUp(email: string, password: string) {
  return postAuth(guard, SIGN_UP, { name: 'Test User', email, password });
}

describe('account events in the audit trail', () => {
  it('records a sign-up with the user the app made, and a refused one with its code', async () => {
    const created = await signUp('Nina.Sharp@Example.com', 'orbit kettle marmalade 42');
    expect(created.status).toBe(200);
    const nina = app.users.get('nina.sharp@example.com');
    expect(await eventOf(created)).toEqual({
      type: 'signup.succeeded',
      outcome: 'success',
      account: 'nina.sharp@example.com',
      userId: nina?.id,
      status: '200',
      appStatus: '200',
      code: '-',
      knownUser: '-',
    });

    const again = await signUp('nina.sharp@example.com', 'another kettle of fish 77');
    expect(again.status).toBe(422);
    expect(await eventOf(again)).toEqual({
      type: 'signup.failed',
      outcome: 'failure',
      account: 'nina.sharp@example.com',
      userId: '-',
      status: '422',
      appStatus: '422',
      code: 'USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL',
      knownUser: '-',
    });

    // Refused by the guard, never seen by the app: its own event, no sign-up event.
    const weak = await signUp('walter@example.com', 'walter2024!');
    expect(weak.status).toBe(400);
    const weakEvent = await eventOf(weak);
    expect(weakEvent.type).toBe('password.rejected');

    // The sign-up answer started a session: the guard knows whose it is.
    const export_ = await postAuth(guard, '/api/admin/export', {}, { cookie: cookieOf(created) });
    expect(export_.status).toBe(200);
    expect((await eventOf(export_)).account).toBe('nina.sharp@example.com');
  });

  it("records password changes with the session's owner, and refusals by status", async () => {
    const dave = cookieOf(await signIn(guard, 'dave@example.com', SEEDED_PASSWORD));
    const newPassword = 'velvet harbour compass 19';

    const wrong = await postAuth(
      guard,
      CHANGE,
      { currentPassword: 'not the password', newPassword },
      { cookie: dave },
    );
    expect(wrong.status).toBe(400);
    expect(await eventOf(wrong)).toMatchObject({
      type: 'password.changed',
      outcome: 'failure',
      account: 'dave@example.com',
      appStatus: '400',
      code: 'INVALID_PASSWORD',
      knownUser: 'true',
    });

    const anonymous = await postAuth(guard, CHANGE, { currentPassword: 'x', newPassword });
    expect(anonymous.status).toBe(401);
    expect(await eventOf(anonymous)).toMatchObject({
      type: 'password.changed',
      outcome: 'denied',
      account: '-',
      status: '401',
      code: '-',
      knownUser: 'false',
    });

    const changed = await postAuth(
      guard,
      CHANGE,
      { currentPassword: SEEDED_PASSWORD, newPassword, revokeOtherSessions: true },
      { cookie: dave },
    );
    expect(changed.status).toBe(200);
    expect(await eventOf(changed)).toEqual({
      type: 'password.changed',
      outcome: 'success',
      account: 'dave@example.com',
      userId: app.users.get('dave@example.com')?.id,
      status: '200',
      appStatus: '200',
      code: '-',
      knownUser: 'true',
    });

    // The change ended the other sessions and started one: its owner is known.
    const export_ = await postAuth(guard, '/api/admin/export', {}, { cookie: cookieOf(changed) });
    expect(export_.status).toBe(200);
    expect((await eventOf(export_)).account).toBe('dave@example.com');
  });

  it('records reset requests with the email named, and resets without an actor', async () => {
    const known = await postAuth(guard, REQUEST_RESET, { email: 'Carol@Example.com' });
    expect(known.status).toBe(200);
    expect(await eventOf(known)).toMatchObject({
      type: 'password.reset_requested',
      outcome: 'success',
      account: 'carol@example.com',
      userId: '-',
      code: '-',
    });
    // The app answers the same for an email it does not know; so does the trail.
    const unknown = await postAuth(guard, REQUEST_RESET, { email: 'nobody@example.com' });
    expect(unknown.status).toBe(200);
    expect(await eventOf(unknown)).toMatchObject({
      type: 'password.reset_requested',
      outcome: 'success',
      account: 'nobody@example.com',
    });

    const newPassword = 'lantern meadow quartz 63';
    const bad = await postAuth(guard, RESET, { newPassword, token: 'not-a-reset-token' });
    expect(bad.status).toBe(400);
    expect(await eventOf(bad)).toEqual({
      type: 'password.reset_completed',
      outcome: 'failure',
      account: '-',
      userId: '-',
      status: '400',
      appStatus: '400',
      code: 'INVALID_TOKEN',
      knownUser: '-',
    });

    const token = app.users.get('carol@example.com')?.resetToken ?? '';
    expect(token).not.toBe('');
    const reset = await postAuth(guard, RESET, { newPassword, token });
    expect(reset.status).toBe(200);
    expect(await eventOf(reset)).toMatchObject({
      type: 'password.reset_completed',
      outcome: 'success',
      account: '-',
      status: '200',
      code: '-',
    });
  });

  it("records sign-outs with the session's owner, then forgets the owner", async () => {
    const alice = cookieOf(await signIn(guard, 'alice@example.com', SEEDED_PASSWORD));
    const signOut = await postAuth(guard, SIGN_OUT, {}, { cookie: alice });
    expect(signOut.status).toBe(200);
    expect(await eventOf(signOut)).toEqual({
      type: 'logout',
      outcome: 'success',
      account: 'alice@example.com',
      userId: app.users.get('alice@example.com')?.id,
      status: '200',
      appStatus: '200',
      code: '-',
      knownUser: 'true',
    });

    // The app ends nothing and still answers 200; the guard no longer knows the session.
    const again = await postAuth(guard, SIGN_OUT, {}, { cookie: alice });
    expect(again.status).toBe(200);
    expect(await eventOf(again)).toMatchObject({
      type: 'logout',
      account: '-',
      knownUser: 'false',
    });
  });

  it('records a password change the client abandoned, with status 499', async () => {
    const created = await signUp('otto@example.com', 'copper violin sunrise 88');
    expect(created.status).toBe(200);
    const newPassword = 'granite puzzle tulip 31';
    app.setAuthDelay(800);
    let answer: Promise<AuthAnswer>;
    try {
      answer = postAuth(
        guard,
        CHANGE,
        { currentPassword: 'copper violin sunrise 88', newPassword },
        { cookie: cookieOf(created) },
        AbortSignal.timeout(200),
      );
      await expect(answer).rejects.toThrow();
    } finally {
      app.setAuthDelay(0);
    }

    const where = "type = 'password.changed' and actor_account = 'otto@example.com'";
    await waitFor(() => db.count(where) === 1, 'the abandoned change');
    const requestId = db.column('request_id', where)[0] ?? '';
    expect(rowsOf(requestId)).toEqual([
      {
        type: 'password.changed',
        outcome: 'info',
        account: 'otto@example.com',
        userId: app.users.get('otto@example.com')?.id,
        status: '499',
        appStatus: '-',
        code: '-',
        knownUser: 'true',
      },
    ]);
    // Why it is recorded: the app did the work after the client had gone.
    await waitFor(
      () => app.users.get('otto@example.com')?.password === newPassword,
      'the change made',
    );
  });

  it('keeps passwords, tokens and cookies of these routes out of rows, spool, logs', async () => {
    const planted = {
      signUp: 'planted sign-up saffron 4471',
      signUpAgain: 'planted second sign-up 6093',
      changed: 'planted new password 5532',
      wrongReset: 'planted-reset-token-3f9a',
      reset: 'planted reset password 7788',
    };
    const created = await signUp('quinn@example.com', planted.signUp);
    expect(created.status).toBe(200);
    const refused = await signUp('quinn@example.com', planted.signUpAgain);
    expect(refused.status).toBe(422);
    const changed = await postAuth(
      guard,
      CHANGE,
      { currentPassword: planted.signUp, newPassword: planted.changed, revokeOtherSessions: true },
      { cookie: cookieOf(created) },
    );
    expect(changed.status).toBe(200);
    const requested = await postAuth(guard, REQUEST_RESET, { email: 'quinn@example.com' });
    const resetToken = app.users.get('quinn@example.com')?.resetToken ?? '';
    expect(resetToken.length).toBeGreaterThan(8);
    const badReset = await postAuth(guard, RESET, {
      newPassword: planted.reset,
      token: planted.wrongReset,
    });
    const reset = await postAuth(guard, RESET, { newPassword: planted.reset, token: resetToken });
    expect(reset.status).toBe(200);
    const signOut = await postAuth(guard, SIGN_OUT, {}, { cookie: cookieOf(changed) });
    const answers = [created, refused, changed, requested, badReset, reset, signOut];
    const types = (await Promise.all(answers.map(eventOf))).map((row) => row.type);
    expect(types).toEqual([
      'signup.succeeded',
      'signup.failed',
      'password.changed',
      'password.reset_requested',
      'password.reset_completed',
      'password.reset_completed',
      'logout',
    ]);

    const rows = db.pg.psql('select row_to_json(e)::text from guard_audit_events e');
    const spoolDir = join(guard.dataDir, 'audit-spool');
    const spool = readdirSync(spoolDir)
      .map((name) => readFileSync(join(spoolDir, name), 'utf8'))
      .join('\n');
    const logs = guard.logText();
    const cookieValues = [...created.cookies, ...changed.cookies]
      .map((cookie) => cookie.slice(cookie.indexOf('=') + 1))
      .filter((value) => value.length > 8);
    const secrets = [
      ...Object.values(planted),
      resetToken,
      String(created.body.token),
      String(changed.body.token),
      ...cookieValues,
      ...cookieValues.map((value) => decodeURIComponent(value).split('.')[0] ?? ''),
      db.pg.password,
    ];
    for (const [where, text] of Object.entries({ rows, spool, logs })) {
      for (const type of types) expect(text, `${type} in ${where}`).toContain(type);
      for (const secret of secrets) expect(text, `${secret} in ${where}`).not.toContain(secret);
    }
  });
});
