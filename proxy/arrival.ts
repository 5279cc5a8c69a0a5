import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { normaliseTarget } from '../policies/normalise-path.ts';
import type { HeaderPlan } from '../policies/security-headers.ts';
import { type ClientAddress, resolveClientAddress } from './client-address.ts';
import { type GuardPolicies, type GuardRuntime, hostnameOf } from './context.ts';
import type { Reply } from './reply.ts';

export type Arrival = {
  readonly requestId: string;
  /** The policies this request is handled by, from start to end. */
  readonly policies: GuardPolicies;
  readonly client: ClientAddress;
  /** The normalised path for matching, or undefined when it cannot be read. */
  readonly path: string | undefined;
  /** The path as sent, without query, for the log. */
  readonly rawPath: string;
  readonly plan: HeaderPlan;
};

const refusedMethods = new Set(['CONNECT', 'TRACE', 'TRACK']);

// What every request and upgrade learns first: who sent it, where it goes,
// which headers its answer carries.
export function receive(runtime: GuardRuntime, req: IncomingMessage, overTls: boolean): Arrival {
  const policies = runtime.policies;
  const client = resolveClientAddress(
    policies.trusted,
    req.socket.remoteAddress,
    req.headers['x-forwarded-for'],
  );
  const target = normaliseTarget(req.url ?? '');
  const path = target.ok ? target.path : undefined;
  return {
    requestId: randomUUID(),
    policies,
    client,
    path,
    rawPath: target.ok ? target.rawPath.slice(0, 512) : '-',
    plan: policies.headers.planFor(path ?? '/', overTls),
  };
}

// Refusals that need no route: framing the parser let through but the guard
// will not forward, and hosts it does not serve.
export function refusalFor(req: IncomingMessage, arrival: Arrival): Reply | undefined {
  const { config, hosts } = arrival.policies;
  if (req.rawHeaders.length / 2 > config.limits.maxHeadersCount) {
    return { status: 431, code: 'GUARD_ERR_HEADERS_TOO_LARGE' };
  }
  if (refusedMethods.has(req.method ?? '')) {
    return { status: 405, code: 'GUARD_ERR_BAD_REQUEST', message: 'method not allowed' };
  }
  if (arrival.path === undefined) return { status: 400, code: 'GUARD_ERR_BAD_REQUEST' };
  // RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 message is faulty
  // framing. Node reads it as chunked, an HTTP/1.0 hop before the guard
  // would not, and the bytes one takes for a body the other takes for the
  // next request.
  if (req.httpVersion === '1.0' && req.headers['transfer-encoding'] !== undefined) {
    return { status: 400, code: 'GUARD_ERR_BAD_REQUEST', message: 'Transfer-Encoding in HTTP/1.0' };
  }
  // RFC 9110 section 10.1.1: an expectation the guard cannot meet is a 417.
  // Node would answer it on its own, bare, without the guard's headers.
  const expectation = req.headers.expect;
  if (expectation !== undefined && !/(?:^|\W)100-continue(?:$|\W)/i.test(expectation)) {
    return { status: 417, code: 'GUARD_ERR_BAD_REQUEST', message: 'expectation not supported' };
  }
  const host = hostnameOf(req.headers.host);
  // RFC 9112 section 3.2: more than one Host line is a 400. Node keeps only the
  // first in req.headers, while the upstream request would carry both.
  if (!host || countHeader(req.rawHeaders, 'host') > 1) {
    return { status: 400, code: 'GUARD_ERR_BAD_REQUEST', message: 'missing or invalid Host' };
  }
  if (config.rejectUnknownHosts && !hosts.has(host)) {
    return { status: 404, code: 'GUARD_ERR_UNKNOWN_HOST' };
  }
  return undefined;
}

function countHeader(rawHeaders: readonly string[], name: string): number {
  let count = 0;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const raw = rawHeaders[index];
    // Lower-casing only the names of the right length keeps this allocation-free.
    if (raw?.length === name.length && raw.toLowerCase() === name) count += 1;
  }
  return count;
}
