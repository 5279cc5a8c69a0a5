import type { IncomingMessage } from 'node:http';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { SecurityEventInput } from '../../audit/security-events.ts';
import { createLogger } from '../../common/log.ts';
import { allowed, type Decision, type RequestPolicy } from '../../policies/decision.ts';
import type { Route } from '../../policies/routes.ts';
import type { Arrival } from '../../proxy/arrival.ts';
import { checkBeforeForward, whenChecked } from '../../proxy/before-forward.ts';
import type { GuardRuntime } from '../../proxy/context.ts';

// The step before forwarding, with policies written for the test: the real
// ones cannot be made to throw. The runtime has a real logger and an event
// recorder; nothing else of it is used here.
const route: Route = { name: 'api', maxBodyBytes: 1024, sensitive: false };

function setUp(policies: RequestPolicy[]) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const events: SecurityEventInput[] = [];
  const runtime = {
    logger: createLogger('info', sink),
    events: { emit: (event: SecurityEventInput) => events.push(event) },
  } as unknown as GuardRuntime;
  const arrival = {
    requestId: 'req-1',
    policies: { beforeForward: policies },
    client: { ip: '192.0.2.7', peer: '192.0.2.7', viaTrustedProxy: false, forwardedChain: [] },
    path: '/api/x',
    rawPath: '/api/x',
  } as unknown as Arrival;
  const req = { method: 'POST', url: '/api/x', headers: {} } as IncomingMessage;
  return {
    lines,
    events,
    check: () => checkBeforeForward(runtime, req, arrival, route),
  };
}

function policy(name: string, decide: RequestPolicy['decide']): RequestPolicy & { asked: number } {
  const counted = {
    name,
    asked: 0,
    appliesTo: () => true,
    decide(request: Parameters<RequestPolicy['decide']>[0]) {
      counted.asked += 1;
      return decide(request);
    },
  };
  return counted;
}

const refusal: Decision = {
  allow: false,
  reply: { status: 429, code: 'GUARD_ERR_RATE_LIMITED' },
  event: { type: 'ratelimit.exceeded', outcome: 'denied' },
};

describe('the step before forwarding', () => {
  it('settles at once when every policy answers at once, collecting what they watch', () => {
    const after = { bodyBytes: 0 };
    const { check } = setUp([
      policy('a', () => allowed),
      policy('b', () => ({ allow: true, after })),
    ]);
    const checked = check();
    expect(checked).not.toBeInstanceOf(Promise);
    expect(checked).toEqual({ reply: undefined, body: undefined, after: [after] });
  });

  it('waits for a policy that answers later and asks the ones after it', async () => {
    const last = policy('c', () => refusal);
    const { check, events } = setUp([
      policy('a', () => allowed),
      policy('b', async () => allowed),
      last,
    ]);
    const checked = check();
    expect(checked).toBeInstanceOf(Promise);
    expect(last.asked).toBe(0);
    expect(await checked).toEqual({ reply: refusal.reply, settled: true });
    expect(last.asked).toBe(1);
    expect(events).toMatchObject([
      { type: 'ratelimit.exceeded', clientIp: '192.0.2.7', requestId: 'req-1', status: 429 },
    ]);
  });

  it('stops at the first refusal', () => {
    const later = policy('later', () => allowed);
    const { check } = setUp([policy('first', () => refusal), later]);
    expect(check()).toMatchObject({ reply: { status: 429 } });
    expect(later.asked).toBe(0);
  });

  it('answers 503 when a policy throws or rejects, and logs which one', async () => {
    const thrown = setUp([
      policy('throws', () => {
        throw new Error('store broke');
      }),
    ]);
    expect(thrown.check()).toMatchObject({
      reply: { status: 503, code: 'GUARD_ERR_POLICY_FAILED' },
    });
    const rejected = setUp([policy('rejects', async () => Promise.reject(new Error('gone')))]);
    expect(await rejected.check()).toMatchObject({ reply: { status: 503 } });
    expect(thrown.lines.find((line) => line.msg === 'policy failed')).toMatchObject({
      policy: 'throws',
      reqId: 'req-1',
    });
    expect(rejected.lines.find((line) => line.msg === 'policy failed')).toMatchObject({
      policy: 'rejects',
    });
  });

  it('hands over at once or later, and reports a check that itself failed', async () => {
    const seen: string[] = [];
    whenChecked(
      () => ({ reply: undefined, body: undefined, after: [] }),
      () => seen.push('at once'),
      () => seen.push('failed'),
    );
    expect(seen).toEqual(['at once']);
    whenChecked(
      () => {
        throw new Error('broken');
      },
      () => seen.push('checked'),
      () => seen.push('failed'),
    );
    expect(seen).toEqual(['at once', 'failed']);
    await new Promise<void>((resolve) => {
      whenChecked(
        async () => ({ reply: undefined, body: undefined, after: [] }),
        () => {
          seen.push('later');
          resolve();
        },
        () => resolve(),
      );
      seen.push('meanwhile');
    });
    expect(seen).toEqual(['at once', 'failed', 'meanwhile', 'later']);
  });
});
