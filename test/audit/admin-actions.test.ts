import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, SEEDED_PASSWORD, startOcommsDouble } from '../double/ocomms-double.ts';
import { type AuditDb, startAuditDb, waitFor } from '../support/audit-db.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';

let app: OcommsDouble;
let db: AuditDb;
let guard: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  db = await startAuditDb();
  guard = await startTestGuard(app.url, { audit: db.audit() });
  await waitFor(() => db.count() >= 1, 'the schema and the start event');
});
afterAll(async () => {
  await guard.close();
  await app.close();
  db.close();
});

async function send(
  method: string,
  path: string,
  options: { cookie?: string; body?: string; headers?: Record<string, string> } = {},
) {
  const response = await request(`${guard.url}${path}`, {
    dispatcher: guard.agent,
    method: method as 'GET',
    headers: {
      origin: guard.url,
      'content-type': 'application/json',
      ...(options.cookie ? { cookie: options.cookie } : {}),
      ...options.headers,
    },
    body: options.body,
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

async function signIn(email: string): Promise<string> {
  const answer = await send('POST', '/api/auth/sign-in/email', {
    body: JSON.stringify({ email, password: SEEDED_PASSWORD }),
  });
  expect(answer.status).toBe(200);
  const cookies = ([] as string[]).concat(answer.headers['set-cookie'] ?? []);
  return cookies.map((cookie) => cookie.split(';')[0]).join('; ');
}

type Row = { method: string; path: string; status: string; account: string; action: string };

function adminRows(): Row[] {
  const text = db.pg.psql(
    "select method, path, status, coalesce(actor_account, '-'), coalesce(details->>'actionId', '-') " +
      "from guard_audit_events where type = 'admin.action' order by row_no",
  );
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [method = '', path = '', status = '', account = '', action = ''] = line.split('|');
      return { method, path, status, account, action };
    });
}

describe('admin actions in the audit trail', () => {
  it('records admin endpoints and settings Server Actions with the acting user', async () => {
    const alice = await signIn('alice@example.com');
    const dave = await signIn('dave@example.com');
    const aliceId = app.users.get('alice@example.com')?.id;

    expect((await send('POST', '/api/admin/export', { cookie: alice, body: '{}' })).status).toBe(
      200,
    );
    const role = await send('POST', '/api/auth/organization/update-member-role', {
      cookie: alice,
      body: JSON.stringify({ memberId: 'm1', role: 'admin' }),
    });
    expect(role.status).toBe(200);
    const action = await send('POST', '/acme/settings/members', {
      cookie: dave,
      body: '["m2"]',
      headers: {
        'next-action': '7f3a9c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a',
        accept: 'text/x-component',
        'content-type': 'text/plain;charset=UTF-8',
      },
    });
    expect(action.status).toBe(200);
    await send('GET', '/api/admin/audit-logs?cursor=abc');
    // Not admin actions: an ordinary page, a Server Action outside settings.
    await send('GET', '/acme/settings/members', { cookie: dave });
    await send('POST', '/acme/chat', {
      cookie: dave,
      body: '[]',
      headers: { 'next-action': 'abc123', 'content-type': 'text/plain' },
    });

    await waitFor(() => adminRows().length >= 4, 'four admin actions');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(adminRows()).toEqual([
      {
        method: 'POST',
        path: '/api/admin/export',
        status: '200',
        account: 'alice@example.com',
        action: '-',
      },
      {
        method: 'POST',
        path: '/api/auth/organization/update-member-role',
        status: '200',
        account: 'alice@example.com',
        action: '-',
      },
      {
        method: 'POST',
        path: '/acme/settings/members',
        status: '200',
        account: 'dave@example.com',
        action: '7f3a9c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a',
      },
      // No session: recorded all the same, with nobody as the actor.
      { method: 'GET', path: '/api/admin/audit-logs', status: '307', account: '-', action: '-' },
    ]);
    const userIds = db.column(
      'actor_user_id',
      "type = 'admin.action' and actor_account = 'alice@example.com'",
    );
    expect(userIds).toEqual([aliceId, aliceId]);
  });

  it('forgets the owner of a session that signed out', async () => {
    const session = await signIn('alice@example.com');
    const signOut = await send('POST', '/api/auth/sign-out', { cookie: session, body: '{}' });
    expect(signOut.status).toBe(200);
    // The app no longer knows the session (307); neither does the guard.
    await send('POST', '/api/admin/after-sign-out', { cookie: session, body: '{}' });
    const where = "type = 'admin.action' and path = '/api/admin/after-sign-out'";
    await waitFor(() => db.count(where) === 1, 'the action stored');
    expect(db.column("coalesce(actor_account, '-') || ' ' || status", where)).toEqual(['- 307']);
  });
});
