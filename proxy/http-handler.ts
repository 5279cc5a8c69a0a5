import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { normaliseTarget } from '../policies/normalise-path.ts';
import type { Route } from '../policies/routes.ts';
import {
  applySecurityHeaders,
  createNonce,
  cspValue,
  type HeaderPlan,
} from '../policies/security-headers.ts';
import { limitBody } from './body-limit.ts';
import { resolveClientAddress } from './client-address.ts';
import { type GuardPolicies, type GuardRuntime, hostnameOf } from './context.ts';
import { type Reply, sendReply } from './reply.ts';
import { buildUpstreamHeaders } from './request-headers.ts';
import { classifyForwardError } from './upstream-errors.ts';

const refusedMethods = new Set(['CONNECT', 'TRACE', 'TRACK']);
const fallbackRoute: Route = { name: 'none', maxBodyBytes: 0, sensitive: false };

type Exchange = {
  requestId: string;
  startedAt: number;
  upstreamMs: number | undefined;
  route: Route;
  clientIp: string;
  path: string;
};

export function createHttpHandler(runtime: GuardRuntime, listener: 'https' | 'http') {
  const overTls = listener === 'https';

  return function handle(req: IncomingMessage, res: ServerResponse): void {
    const policies = runtime.policies;
    const { config } = policies;
    const requestId = randomUUID();
    const client = resolveClientAddress(
      policies.trusted,
      req.socket.remoteAddress,
      req.headers['x-forwarded-for'],
    );
    const target = normaliseTarget(req.url ?? '');
    const path = target.ok ? target.path : '/';
    const plan = policies.headers.planFor(path, overTls);
    const exchange: Exchange = {
      requestId,
      startedAt: performance.now(),
      upstreamMs: undefined,
      route: fallbackRoute,
      clientIp: client.ip,
      path: target.ok ? target.rawPath.slice(0, 512) : '-',
    };
    res.once('close', () => finish(runtime, listener, req, res, exchange));
    if (runtime.closing) res.shouldKeepAlive = false;

    const refusal = refuse(req, policies, target.ok);
    if (refusal) return sendReply(res, refusal, plan, requestId, true);

    const route = policies.routes.match(req.method ?? 'GET', path);
    exchange.route = route;
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > route.maxBodyBytes) {
      const reply: Reply = { status: 413, code: 'GUARD_ERR_BODY_TOO_LARGE' };
      return sendReply(res, reply, plan, requestId, true);
    }

    if (!overTls) return redirectToHttps(req, res, runtime, plan, requestId);

    const nonce = plan.csp?.nonce ? createNonce() : undefined;
    const headers = buildUpstreamHeaders(req, {
      client,
      requestId,
      proto: 'https',
      cspRequestHeader: plan.csp && nonce ? cspValue(plan.csp, nonce) : undefined,
    });
    const hasBody = length > 0 || req.headers['transfer-encoding'] !== undefined;
    const body = hasBody
      ? limitBody(req, route.maxBodyBytes, config.limits.bodyIdleTimeoutMs)
      : null;
    if (!hasBody) req.resume();

    runtime.upstream.forward(req, res, headers, body, {
      onHeaders(_status, responseHeaders) {
        exchange.upstreamMs = performance.now() - exchange.startedAt;
        if (runtime.closing) res.shouldKeepAlive = false;
        applySecurityHeaders(responseHeaders, plan, nonce);
        responseHeaders['x-request-id'] = requestId;
      },
      onDone(error) {
        if (!error) return;
        const failure = classifyForwardError(error);
        if (res.destroyed) return;
        runtime.metrics.upstreamErrors.inc({ reason: failure.reason });
        if (res.headersSent) {
          res.destroy();
          return;
        }
        sendReply(res, failure.reply, plan, requestId, hasBody);
      },
    });
  };
}

function refuse(req: IncomingMessage, policies: GuardPolicies, pathOk: boolean): Reply | undefined {
  const { limits } = policies.config;
  if (req.rawHeaders.length / 2 > limits.maxHeadersCount) {
    return { status: 431, code: 'GUARD_ERR_HEADERS_TOO_LARGE' };
  }
  if (!pathOk) return { status: 400, code: 'GUARD_ERR_BAD_REQUEST' };
  if (refusedMethods.has(req.method ?? '')) {
    return { status: 405, code: 'GUARD_ERR_BAD_REQUEST', message: 'method not allowed' };
  }
  const host = hostnameOf(req.headers.host);
  if (!host)
    return { status: 400, code: 'GUARD_ERR_BAD_REQUEST', message: 'missing or invalid Host' };
  if (policies.config.rejectUnknownHosts && !policies.hosts.has(host)) {
    return { status: 404, code: 'GUARD_ERR_UNKNOWN_HOST' };
  }
  return undefined;
}

function redirectToHttps(
  req: IncomingMessage,
  res: ServerResponse,
  runtime: GuardRuntime,
  plan: HeaderPlan,
  requestId: string,
): void {
  const host = req.headers.host ?? '';
  const hostname = hostnameOf(host) ?? '';
  const port = runtime.httpsPublicPort;
  const authority = hostname.includes(':') ? `[${hostname}]` : hostname;
  const location = `https://${authority}${port === 443 ? '' : `:${port}`}${req.url ?? '/'}`;
  const reply: Reply = { status: 308, code: 'GUARD_REDIRECT_HTTPS', headers: { location } };
  req.resume();
  sendReply(res, reply, plan, requestId);
}

function finish(
  runtime: GuardRuntime,
  listener: string,
  req: IncomingMessage,
  res: ServerResponse,
  exchange: Exchange,
): void {
  const durationMs = performance.now() - exchange.startedAt;
  const status = res.writableFinished ? res.statusCode : 499;
  runtime.metrics.requests.inc({ listener, route: exchange.route.name, status });
  runtime.metrics.duration.observe({ listener }, durationMs / 1000);
  runtime.logger.info(
    {
      reqId: exchange.requestId,
      listener,
      clientIp: exchange.clientIp,
      method: req.method,
      path: exchange.path,
      route: exchange.route.name,
      status,
      durationMs: Math.round(durationMs * 10) / 10,
      upstreamMs:
        exchange.upstreamMs === undefined ? undefined : Math.round(exchange.upstreamMs * 10) / 10,
    },
    'request',
  );
}
