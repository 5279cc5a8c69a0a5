import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { authPoliciesOff, presetLimitsOff, send } from '../support/policy-requests.ts';
import { parseResponses, sendRaw } from '../support/raw-http.ts';

let app: OcommsDouble;
let guard: TestGuard;
let refusing: TestGuard;
const signIn = '/api/auth/sign-in/email';
const credentials = JSON.stringify({ email: 'alice@example.com', password: 'not-her-password' });

beforeAll(async () => {
  app = await startOcommsDouble();
  const overrides = {
    ...authPoliciesOff(),
    rateLimits: presetLimitsOff(),
    limits: { bodyIdleTimeoutMs: 800 },
  };
  guard = await startTestGuard(app.url, overrides);
  refusing = await startTestGuard(app.url, {
    ...overrides,
    bodyInspection: { encodings: 'refuse' },
  });
});
afterAll(async () => {
  await refusing.close();
  await guard.close();
  await app.close();
});

function signInsSeen(): number {
  return app.requests.filter((entry) => entry.url.startsWith(signIn)).length;
}

async function post(body: string | Buffer, headers: Record<string, string>, target = guard) {
  const before = signInsSeen();
  const answer = await send(target, signIn, { body, headers });
  return { ...answer, forwarded: signInsSeen() > before, code: codeOf(answer.text) };
}

function codeOf(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { code?: string }).code;
  } catch {
    return undefined;
  }
}

function lastSignInBody(): Buffer | undefined {
  return app.requests.filter((entry) => entry.url.startsWith(signIn)).at(-1)?.body;
}

describe('inspected bodies reach the app exactly as sent', () => {
  it('reads JSON whatever the case and parameters of its Content-Type', async () => {
    for (const type of [
      'application/json',
      'Application/JSON',
      'application/json; charset=utf-8',
      'APPLICATION/JSON;Charset="UTF-8"',
    ]) {
      const answer = await post(credentials, { 'content-type': type });
      expect(answer.status, type).toBe(401);
      expect(answer.code).toBe('INVALID_EMAIL_OR_PASSWORD');
      expect(lastSignInBody()?.toString('utf8')).toBe(credentials);
    }
  });

  it('reads form-urlencoded bodies', async () => {
    const form = 'email=alice%40example.com&password=wrong+one';
    const answer = await post(form, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(answer.status).toBe(401);
    expect(lastSignInBody()?.toString('utf8')).toBe(form);
  });

  it('forwards a chunked body as the same bytes, with a Content-Length', async () => {
    const chunk = credentials;
    const payload = [
      `POST ${signIn} HTTP/1.1`,
      'Host: localhost',
      'Content-Type: application/json',
      'Transfer-Encoding: chunked',
      'Connection: close',
      '',
      `${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
    ].join('\r\n');
    const [response] = parseResponses(await sendRaw(guard.guard.ports.https, guard.ca, payload));
    expect(response?.status).toBe(401);
    const seen = app.requests.filter((entry) => entry.url.startsWith(signIn)).at(-1);
    expect(seen?.body.toString('utf8')).toBe(chunk);
    expect(seen?.headers['content-length']).toBe(String(Buffer.byteLength(chunk)));
    expect(seen?.headers['transfer-encoding']).toBeUndefined();
  });

  it('decodes gzip, deflate and br to inspect them, and forwards the encoded bytes', async () => {
    const wrongType = JSON.stringify({ email: ['a@example.com', 'b@example.com'], password: 'x' });
    for (const [coding, encode] of [
      ['gzip', gzipSync],
      ['deflate', deflateSync],
      ['br', brotliCompressSync],
    ] as const) {
      const headers = { 'content-type': 'application/json', 'content-encoding': coding };
      const refused = await post(encode(Buffer.from(wrongType)), headers);
      expect(refused.status, coding).toBe(400);
      expect(refused.forwarded).toBe(false);
      const encoded = encode(Buffer.from(credentials));
      const passed = await post(encoded, headers);
      expect(passed.forwarded, coding).toBe(true);
      expect(lastSignInBody()?.equals(encoded)).toBe(true);
    }
  });
});

describe('bodies the guard cannot read with certainty are refused and never forwarded', () => {
  const json = { 'content-type': 'application/json' };

  it('refuses content types the route does not take with 415', async () => {
    for (const type of [
      'text/plain',
      'multipart/form-data; boundary=x',
      'application/json; charset=iso-8859-1',
      'application/json; boundary=x',
      'application/x-www-form-urlencoded; a=application/json',
    ]) {
      const answer = await post(credentials, { 'content-type': type });
      expect(answer.status, type).toBe(415);
      expect(answer.code).toBe('GUARD_ERR_UNSUPPORTED_MEDIA_TYPE');
      expect(answer.forwarded).toBe(false);
    }
    const untyped = await post(credentials, {});
    expect(untyped.status).toBe(415);
    expect(untyped.forwarded).toBe(false);
  });

  it('refuses bad UTF-8, bad JSON, non-objects and wrong field types with 400', async () => {
    const bodies: (string | Buffer)[] = [
      Buffer.concat([Buffer.from('{"email":"al'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
      '{"email": "alice@example.com", "password": ',
      '["alice@example.com"]',
      '"alice@example.com"',
      JSON.stringify({ email: { $ne: '' }, password: 'x' }),
      JSON.stringify({ email: 'alice@example.com', password: 12345678 }),
    ];
    for (const body of bodies) {
      const answer = await post(body, json);
      expect(answer.status, String(body)).toBe(400);
      expect(answer.code).toBe('GUARD_ERR_BODY_INVALID');
      expect(answer.forwarded).toBe(false);
    }
  });

  it('refuses a repeated form field and a second Content-Type', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const repeated = await post('email=a%40example.com&email=alice%40example.com&password=x', form);
    expect(repeated.status).toBe(400);
    expect(repeated.forwarded).toBe(false);

    const before = signInsSeen();
    const payload = [
      `POST ${signIn} HTTP/1.1`,
      'Host: localhost',
      'Content-Type: application/json',
      'Content-Type: application/x-www-form-urlencoded',
      `Content-Length: ${Buffer.byteLength(credentials)}`,
      'Connection: close',
      '',
      credentials,
    ].join('\r\n');
    const [response] = parseResponses(await sendRaw(guard.guard.ports.https, guard.ca, payload));
    expect(response?.status).toBe(400);
    expect(signInsSeen()).toBe(before);
  });

  it('refuses decompression bombs, stacked and unknown encodings', async () => {
    const bomb = gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(16 * 1024);
    const tooBig = await post(bomb, { ...json, 'content-encoding': 'gzip' });
    expect(tooBig.status).toBe(413);
    expect(tooBig.forwarded).toBe(false);

    // Within the size cap but far beyond the ratio cap (20).
    const padded = JSON.stringify({ email: 'alice@example.com', password: 'x'.repeat(30000) });
    const ratio = await post(gzipSync(Buffer.from(padded)), {
      ...json,
      'content-encoding': 'gzip',
    });
    expect(ratio.status).toBe(413);
    expect(ratio.forwarded).toBe(false);

    const twice = gzipSync(gzipSync(Buffer.from(credentials)));
    const stacked = await post(twice, { ...json, 'content-encoding': 'gzip, gzip' });
    expect(stacked.status).toBe(415);
    const unknown = await post(credentials, { ...json, 'content-encoding': 'compress' });
    expect(unknown.status).toBe(415);
    // Names an object has by inheritance are no codings either.
    for (const coding of ['constructor', '__proto__']) {
      const inherited = await post(credentials, { ...json, 'content-encoding': coding });
      expect(inherited.status).toBe(415);
      expect(inherited.forwarded).toBe(false);
    }
    const broken = await post(Buffer.from('not gzip at all'), {
      ...json,
      'content-encoding': 'gzip',
    });
    expect(broken.status).toBe(400);
    expect([stacked, unknown, broken].some((answer) => answer.forwarded)).toBe(false);
  });

  it('refuses every encoded body with 415 when configured to', async () => {
    const answer = await post(
      gzipSync(Buffer.from(credentials)),
      {
        ...json,
        'content-encoding': 'gzip',
      },
      refusing,
    );
    expect(answer.status).toBe(415);
    expect(answer.forwarded).toBe(false);
    const plain = await post(credentials, json, refusing);
    expect(plain.status).toBe(401);
  });

  it('bounds the body by what arrives, not by Content-Length', async () => {
    const big = 'a'.repeat(20 * 1024);
    const chunked = [
      `POST ${signIn} HTTP/1.1`,
      'Host: localhost',
      'Content-Type: application/json',
      'Transfer-Encoding: chunked',
      'Connection: close',
      '',
      `${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`,
    ].join('\r\n');
    const before = signInsSeen();
    const [response] = parseResponses(await sendRaw(guard.guard.ports.https, guard.ca, chunked));
    expect(response?.status).toBe(413);
    expect(signInsSeen()).toBe(before);

    const declared = await post(big, json);
    expect(declared.status).toBe(413);
    expect(declared.forwarded).toBe(false);
  });

  it('answers 408 to a body that stalls, and forwards nothing', async () => {
    const before = signInsSeen();
    const stalled = [
      `POST ${signIn} HTTP/1.1`,
      'Host: localhost',
      'Content-Type: application/json',
      'Content-Length: 100',
      '',
      '{"email":"alice@example.com"',
    ].join('\r\n');
    const text = await sendRaw(guard.guard.ports.https, guard.ca, stalled, 5000);
    expect(parseResponses(text)[0]?.status).toBe(408);
    expect(signInsSeen()).toBe(before);
  });
});
