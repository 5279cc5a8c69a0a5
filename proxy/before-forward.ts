import type { IncomingMessage } from 'node:http';
import { type InspectedBody, inspectBody } from '../policies/body-inspect.ts';
import type { AfterResponse, PolicyRequest } from '../policies/decision.ts';
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
export async function checkBeforeForward(
  runtime: GuardRuntime,
  req: IncomingMessage,
  arrival: Arrival,
  route: Route,
  upgrade = false,
): Promise<Checked> {
  const { policies } = arrival;
  let body: InspectedBody | undefined;
  if (route.body) {
    const { bodyInspection, limits } = policies.config;
    const maxBytes = Math.min(route.maxBodyBytes, bodyInspection.maxBytes);
    const read = await readBody(req, maxBytes, limits.bodyIdleTimeoutMs);
    if (!read.ok) {
      return read.reply ? { reply: read.reply, settled: false } : { reply: undefined, gone: true };
    }
    const { headers, rawHeaders } = req;
    const inspected = inspectBody(read.bytes, headers, rawHeaders, route.body, bodyInspection);
    if (!inspected.ok) return { reply: inspected.reply, settled: true };
    body = inspected.body;
  }

  const settled = route.body !== undefined || isBodyless(req);
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
  const after: AfterResponse[] = [];
  for (const policy of policies.beforeForward) {
    if (!policy.appliesTo(request.method, request.path, request.target, route)) continue;
    let decision: Awaited<ReturnType<typeof policy.decide>>;
    try {
      decision = await policy.decide(request);
    } catch (error) {
      const fields = { reqId: request.requestId, policy: policy.name, err: error };
      runtime.logger.error(fields, 'policy failed');
      return { reply: policyFailed, settled };
    }
    if (decision.allow) {
      if (decision.after) after.push(decision.after);
      continue;
    }
    if (decision.event) {
      runtime.events.emit({
        ...decision.event,
        clientIp: arrival.client.ip,
        requestId: arrival.requestId,
        route: route.name,
        method: req.method,
        path: arrival.rawPath,
        status: decision.reply.status,
      });
    }
    return { reply: decision.reply, settled };
  }
  return { reply: undefined, body, after };
}

function isBodyless(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
}
