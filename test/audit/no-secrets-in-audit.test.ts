import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pseudonym } from '../../audit/event-record.ts';
import { type OcommsDouble, SEEDED_PASSWORD, startOcommsDouble } from '../double/ocomms-double.ts';
import { type AuditDb, startAuditDb, waitFor } from '../support/audit-db.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';

// Values planted wherever a secret travels; none may reach a row, the spool
// or a log line.
const planted = {
  password: 'Planted-Password-a41c77',
  cookie: 'planted-cookie-value-19fe',
  bearer: 'planted-bearer-token-5d20',
  urlSecret: 'planted-url-password-7c31',
  identityKey: 'planted-identity-key-0123456789abcdef0123',
  chainKey: 'planted-chain-key-0123456789abcdef0123456',
};

let app: OcommsDouble;
let db: AuditDb;
let guard: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  db = await startAuditDb();
  guard = await startTestGuard(app.url, {
    log: { level: 'trace' },
    audit: db.audit({
      identity: 'pseudonymised',
      identityKey: planted.identityKey,
      chainKey: planted.chainKey,
    }),
  });
});
afterAll(async () => {
  await guard.close();
  await app.close();
  db.close();
});

async function send(method: string, path: string, body?: unknown, headers = {}) {
  const response = await request(`${guard.url}${path}`, {
    dispatcher: guard.agent,
    method: method as 'GET',
    headers: { 'content-type': 'application/json', origin: guard.url, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

describe('secrets never reach the audit trail', () => {
  it('keeps passwords, cookies, tokens, keys and credentials out of rows, spool and logs', async () => {
    const signIn = await send('POST', '/api/auth/sign-in/email', {
      email: 'alice@example.com',
      password: SEEDED_PASSWORD,
    });
    expect(signIn.status).toBe(200);
    const token = (JSON.parse(signIn.text) as { token: string }).token;
    const setCookies = ([] as string[]).concat(signIn.headers['set-cookie'] ?? []);
    const cookie = setCookies.map((entry) => entry.split(';')[0]).join('; ');
    const cookieValues = setCookies.map((entry) => entry.split(';')[0]?.split('=')[1] ?? '');
    const credentialed = `https://ops:${planted.urlSecret}@backup.example.com/dump`;

    await send('POST', '/api/auth/sign-in/email', {
      email: 'alice@example.com',
      password: planted.password,
    });
    await send(
      'POST',
      `/api/admin/export?target=${encodeURIComponent(credentialed)}`,
      {},
      {
        cookie,
        authorization: `Bearer ${planted.bearer}`,
        referer: credentialed,
      },
    );
    await send(
      'POST',
      '/api/auth/organization/remove-member',
      { memberId: 'm9' },
      {
        cookie: `better-auth.session_token=${planted.cookie}`,
      },
    );
    await send('POST', '/acme/settings/general', undefined, {
      cookie,
      'next-action': 'a1b2c3',
      'content-type': 'text/plain',
      'x-api-key': planted.bearer,
    });
    await waitFor(() => db.count("type = 'admin.action'") === 3, 'the admin actions stored');

    const rows = db.pg.psql('select row_to_json(e)::text from guard_audit_events e');
    const spoolDir = join(guard.dataDir, 'audit-spool');
    const spool = readdirSync(spoolDir)
      .map((name) => readFileSync(join(spoolDir, name), 'utf8'))
      .join('\n');
    const logs = guard.logText();
    const secrets = [
      ...Object.values(planted),
      SEEDED_PASSWORD,
      token,
      db.pg.password,
      ...cookieValues.filter((value) => value.length > 8),
    ];
    for (const [where, text] of Object.entries({ rows, spool, logs })) {
      for (const secret of secrets) expect(text, `${secret} in ${where}`).not.toContain(secret);
    }
    // Pseudonymised: the account is a keyed hash, still the same for each event.
    expect(rows).not.toContain('alice@example.com');
    const alias = pseudonym(planted.identityKey, 'alice@example.com');
    expect(db.column("coalesce(actor_account, '-')", "type = 'admin.action'")).toEqual([
      alias,
      '-',
      alias,
    ]);
  });
});
