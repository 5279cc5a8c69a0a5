import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../common/log.ts';
import type { CspReportsConfig } from '../config/edge-schema.ts';
import { groupAddress } from '../policies/client-keys.ts';
import { parseCspReports } from '../policies/csp-report-parse.ts';
import { createRuleLimiter, type RuleLimiter } from '../policies/rule-limiter.ts';
import type { GuardStore } from '../policies/store.ts';
import type { Arrival } from './arrival.ts';
import type { GuardRuntime } from './context.ts';
import { readBody } from './read-body.ts';
import { type Reply, sendReply } from './reply.ts';
import type { ResourceScope } from './shared-resources.ts';

/** The guard's own endpoint for CSP reports; undefined when collection is off. */
export type CspReportEndpoint = {
  readonly path: string;
  readonly config: CspReportsConfig;
  readonly limiter: RuleLimiter;
  readonly ipv6PrefixLength: number;
};

/** What the answer settled; `drained` is false when the body was left unread. */
export type CspReportAnswer = { readonly reply: Reply; readonly drained: boolean };

const accepted: Reply = { status: 204, code: 'GUARD_NO_CONTENT' };

export function buildCspReportEndpoint(
  config: CspReportsConfig,
  store: GuardStore,
  ipv6PrefixLength: number,
  logger: Logger,
  resources: ResourceScope,
): CspReportEndpoint | undefined {
  if (!config.enabled) return undefined;
  // ":" is refused in the names of `rateLimits` rules: none shares these counters.
  const rule = {
    name: 'guard:csp-report',
    match: { path: config.path, prefix: false, handshakeOnly: false },
    key: ['ip' as const],
    limit: config.limit,
    windowSeconds: config.windowSeconds,
    blockSeconds: 0,
    onStoreError: 'memory' as const,
    enabled: true,
  };
  // A report is evidence, not a gate: while the store is away a per-instance
  // count stands in for it.
  const onStoreError = () => logger.warn({ policy: 'csp-report' }, 'rate limit store unavailable');
  const limiter = createRuleLimiter(rule, store, onStoreError, resources);
  return { path: config.path.toLowerCase(), config, limiter, ipv6PrefixLength };
}

// Any page can make a browser post here, so the endpoint is counted per
// client before a byte of the body is read, the body is capped, and only
// bounded, query-free fields of each report reach the audit trail.
export async function answerCspReport(
  runtime: GuardRuntime,
  req: IncomingMessage,
  arrival: Arrival,
  endpoint: CspReportEndpoint,
): Promise<CspReportAnswer | undefined> {
  if (req.method !== 'POST') {
    const reply: Reply = { status: 405, code: 'GUARD_ERR_BAD_REQUEST', message: 'use POST' };
    return { reply: { ...reply, headers: { allow: 'POST' } }, drained: false };
  }
  const key = groupAddress(arrival.client.ip, endpoint.ipv6PrefixLength);
  const counted = await endpoint.limiter.consume(key);
  if (counted.kind === 'limited') {
    const seconds = String(Math.max(1, Math.ceil(counted.retryMs / 1000)));
    const headers = { 'retry-after': seconds };
    const message = 'Too many requests. Please try again later.';
    const reply: Reply = { status: 429, code: 'GUARD_ERR_RATE_LIMITED', message, headers };
    return { reply, drained: false };
  }
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    return { reply: { status: 415, code: 'GUARD_ERR_UNSUPPORTED_MEDIA_TYPE' }, drained: false };
  }

  const { config } = endpoint;
  const read = await readBody(
    req,
    config.maxBytes,
    arrival.policies.config.limits.bodyIdleTimeoutMs,
  );
  if (!read.ok) return read.reply ? { reply: read.reply, drained: false } : undefined;
  const parsed = parseCspReports(
    read.bytes,
    req.headers['content-type'],
    config.maxReportsPerRequest,
  );
  if (!parsed.ok) {
    const code =
      parsed.status === 415 ? 'GUARD_ERR_UNSUPPORTED_MEDIA_TYPE' : 'GUARD_ERR_BODY_INVALID';
    return { reply: { status: parsed.status, code, message: parsed.message }, drained: true };
  }

  for (const violation of parsed.violations) {
    runtime.events.emit({
      type: 'csp.violation',
      outcome: 'info',
      clientIp: arrival.client.ip,
      requestId: arrival.requestId,
      route: 'csp-report',
      method: 'POST',
      path: arrival.rawPath,
      status: 204,
      details: { ...violation },
    });
  }
  return { reply: accepted, drained: true };
}

export function serveCspReport(
  runtime: GuardRuntime,
  req: IncomingMessage,
  res: ServerResponse,
  arrival: Arrival,
  endpoint: CspReportEndpoint,
): void {
  const { plan, requestId } = arrival;
  answerCspReport(runtime, req, arrival, endpoint).then(
    (answer) => {
      if (!answer) return void res.destroy();
      sendReply(res, answer.reply, plan, requestId, !answer.drained);
    },
    () => res.destroy(),
  );
}
