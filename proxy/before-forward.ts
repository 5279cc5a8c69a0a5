import type { IncomingMessage } from 'node:http';
import { type InspectedBody, inspectBody } from '../policies/body-inspect.ts';
import type { AfterResponse, Decision, PolicyRequest } from '../policies/decision.ts';
import type { Route } from '../policies/routes.ts';
import type { Arrival } from './arrival.ts';
import type { GuardPolicies, GuardRuntime } from './context.ts';
import { readBody } from './read-body.ts';
import type { Reply } from './reply.ts';

/** What the step before forwarding settled: a refusal, or go on (with the body read). */
export type Checked =
  /** settled: the request's body was read or it has none, so the connection can go on. */
  | { readonly reply: Reply; readonly settled: boolean }
  | {
      readonly reply: undefined;
      readonly body: InspectedBody | undefined;
      /** What the policies that allowed it want to see of the answer. */
      readonly after: readonly AfterResponse[];
    }
  /** The client went away while its body was read. */
  | { readonly reply: undefined; readonly gone: true };

const policyFailed: Reply = { status: 503, code: 'GUARD_ERR_POLICY_FAILED' };

// True when a request takes the checked path: its route inspects the body or
// a policy wants a say. Everything else stays on the streaming fast path.
export function needsCheck(
  policies: GuardPolicies,
  req: IncomingMessage,
  path: string,
  route: Route,
): boolean {
  if (route.body) return true;
  const method = req.method ?? 'GET';
  const target = req.url ?? '/';
  for (const policy of policies.beforeForward) {
    if (policy.appliesTo(method, path, target, route)) return true;
  }
  return false;
}

// The one step every policy joins before a request is forwarded: read and
// inspect the body where the route says so, then ask each applicable policy
// in order; the first refusal answers and is recorded as a security event.
// When the body needs no reading and every policy answers at once (a check of
// the Origin, say), so does this: no promise for the common case.
export function checkBeforeForward(
  runtime: GuardRuntime,
  req: IncomingMessage,
  arrival: Arrival,
  route: Route,
  upgrade = false,
): Checked | Promise<Checked> {
  if (route.body) return readThenDecide(runtime, req, arrival, route, route.body, upgrade);
  return decideAll(runtime, req, arrival, route, upgrade, undefined);
}

/**
 * Runs `then` with what the check settled, at once when it settled at once;
 * `failed` when the check itself threw or rejected.
 */
export function whenChecked(
  check: () => Checked | Promise<Checked>,
  then: (checked: Checked) => void,
  failed: () => void,
): void {
  let checked: Checked | Promise<Checked>;
  try {
    checked = check();
  } catch {
    return failed();
  }
  if (checked instanceof Promise) checked.then(then, failed);
  else then(checked);
}

async function readThenDecide(
  runtime: GuardRuntime,
  req: IncomingMessage,
  arrival: Arrival,
  route: Route,
  spec: NonNullable<Route['body']>,
  upgrade: boolean,
): Promise<Checked> {
  const { bodyInspection, limits } = arrival.policies.config;
  const maxBytes = Math.min(route.maxBodyBytes, bodyInspection.maxBytes);
  const read = await readBody(req, maxBytes, limits.bodyIdleTimeoutMs);
  if (!read.ok) {
    return read.reply ? { reply: read.reply, settled: false } : { reply: undefined, gone: true };
  }
  const { headers, rawHeaders } = req;
  const inspected = inspectBody(read.bytes, headers, rawHeaders, spec, bodyInspection);
  if (!inspected.ok) return { reply: inspected.reply, settled: true };
  return decideAll(runtime, req, arrival, route, upgrade, inspected.body);
}

type Deciding = {
  readonly runtime: GuardRuntime;
  readonly req: IncomingMessage;
  readonly arrival: Arrival;
  readonly request: PolicyRequest;
  readonly body: InspectedBody | undefined;
  readonly settled: boolean;
  readonly after: AfterResponse[];
};

function decideAll(
  runtime: GuardRuntime,
  req: IncomingMessage,
  arrival: Arrival,
  route: Route,
  upgrade: boolean,
  body: InspectedBody | undefined,
): Checked | Promise<Checked> {
  const request: PolicyRequest = {
    requestId: arrival.requestId,
    method: req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET'),
    path: arrival.path ?? '/',
    target: req.url ?? '/',
    route,
    client: arrival.client,
    headers: req.headers,
    body,
    upgrade,
  };
  const settled = route.body !== undefined || isBodyless(req);
  return decideFrom({ runtime, req, arrival, request, body, settled, after: [] }, 0);
}

// Asks the policies from `index` on; goes asynchronous only at the first
// policy whose answer is a promise.
function decideFrom(deciding: Deciding, index: number): Checked | Promise<Checked> {
  const { request, arrival } = deciding;
  const policies = arrival.policies.beforeForward;
  for (let at = index; at < policies.length; at += 1) {
    const policy = policies[at];
    if (!policy?.appliesTo(request.method, request.path, request.target, request.route)) continue;
    let decision: ReturnType<typeof policy.decide>;
    try {
      decision = policy.decide(request);
    } catch (error) {
      return policyFailure(deciding, policy.name, error);
    }
    if (decision instanceof Promise) {
      return decision.then(
        (answer) => conclude(deciding, answer) ?? decideFrom(deciding, at + 1),
        (error: unknown) => policyFailure(deciding, policy.name, error),
      );
    }
    const concluded = conclude(deciding, decision);
    if (concluded) return concluded;
  }
  return { reply: undefined, body: deciding.body, after: deciding.after };
}

// An allowing answer adds what it wants to see of the response and lets the
// next policy decide; a refusal ends the check, recorded when it says so.
function conclude(deciding: Deciding, decision: Decision): Checked | undefined {
  if (decision.allow) {
    if (decision.after) deciding.after.push(decision.after);
    return undefined;
  }
  const { runtime, arrival, req, request } = deciding;
  if (decision.event) {
    runtime.events.emit({
      ...decision.event,
      clientIp: arrival.client.ip,
      requestId: arrival.requestId,
      route: request.route.name,
      method: req.method,
      path: request.route.loggedPath ?? arrival.rawPath,
      status: decision.reply.status,
    });
  }
  return { reply: decision.reply, settled: deciding.settled };
}

function policyFailure(deciding: Deciding, policy: string, error: unknown): Checked {
  const fields = { reqId: deciding.request.requestId, policy, err: error };
  deciding.runtime.logger.error(fields, 'policy failed');
  return { reply: policyFailed, settled: deciding.settled };
}

function isBodyless(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
}
