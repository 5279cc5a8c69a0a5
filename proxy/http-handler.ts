import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { observeResponse, type ResponseObserver } from '../audit/response-observer.ts';
import { accountOf, type InspectedBody } from '../policies/body-inspect.ts';
import type { Route } from '../policies/routes.ts';
import {
  applySecurityHeaders,
  createNonce,
  cspValue,
  type HeaderPlan,
} from '../policies/security-headers.ts';
import { type ResponseWatch, watchResponse } from './after-response.ts';
import { type Arrival, receive, refusalFor } from './arrival.ts';
import { checkBeforeForward, needsCheck, whenChecked } from './before-forward.ts';
import { whenBodyReady } from './body-limit.ts';
import { admitOnConnection } from './connection-order.ts';
import { type GuardRuntime, hostnameOf } from './context.ts';
import { serveCspReport } from './csp-report-endpoint.ts';
import type { ForwardResult } from './forward.ts';
import { type Reply, sendReply } from './reply.ts';
import { buildUpstreamHeaders } from './request-headers.ts';
import { fallbackRoute, recordExchange, routeOf } from './request-record.ts';
import { classifyForwardError } from './upstream-errors.ts';

type Exchange = {
  requestId: string;
  startedAt: number;
  upstreamMs: number | undefined;
  route: Route;
  clientIp: string;
  path: string;
  /** The audit trail's view of the answer (admin actions, session owners). */
  observer?: ResponseObserver | undefined;
  /** Releases the upstream request, once one is on its way. */
  release?: (() => void) | undefined;
};

export function createHttpHandler(runtime: GuardRuntime, listener: 'https' | 'http') {
  const overTls = listener === 'https';

  // One listener on the response's close serves the connection's order, the
  // upstream request and the access log.
  return function arrive(req: IncomingMessage, res: ServerResponse): void {
    let exchange: Exchange | undefined;
    admitOnConnection(
      req,
      res,
      () => {
        exchange = handle(req, res);
      },
      () => {
        if (!exchange) return;
        exchange.release?.();
        const status = res.writableFinished ? res.statusCode : 499;
        recordExchange(runtime, listener, req.method, exchange, status);
      },
    );
  };

  function handle(req: IncomingMessage, res: ServerResponse): Exchange {
    const arrival = receive(runtime, req, overTls);
    const { requestId, client } = arrival;
    const exchange: Exchange = {
      requestId,
      startedAt: performance.now(),
      upstreamMs: undefined,
      route: fallbackRoute,
      clientIp: client.ip,
      path: arrival.rawPath,
    };
    if (runtime.closing) res.shouldKeepAlive = false;
    respond(req, res, arrival, exchange);
    return exchange;
  }

  function respond(
    req: IncomingMessage,
    res: ServerResponse,
    arrival: Arrival,
    exchange: Exchange,
  ) {
    const { requestId, plan, policies, client } = arrival;
    const route = routeOf(arrival, req.method);
    exchange.path = route.loggedPath ?? arrival.rawPath;
    const refusal = refusalFor(req, arrival);
    if (refusal || arrival.path === undefined) {
      return sendReply(
        res,
        refusal ?? { status: 400, code: 'GUARD_ERR_BAD_REQUEST' },
        plan,
        requestId,
        true,
      );
    }

    exchange.route = route;
    exchange.observer = observeResponse(runtime, req, res, {
      requestId,
      clientIp: client.ip,
      path: arrival.path,
      rawPath: exchange.path,
      route: route.name,
    });
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > route.maxBodyBytes) {
      const reply: Reply = { status: 413, code: 'GUARD_ERR_BODY_TOO_LARGE' };
      return sendReply(res, reply, plan, requestId, true);
    }

    if (!overTls) return redirectToHttps(req, res, runtime, plan, requestId);
    const reports = policies.cspReports;
    if (reports?.path === arrival.path) return serveCspReport(runtime, req, res, arrival, reports);

    if (needsCheck(policies, req, arrival.path, route)) {
      return whenChecked(
        () => checkBeforeForward(runtime, req, arrival, route),
        (checked) => {
          if ('gone' in checked) return void res.destroy();
          if (checked.reply)
            return sendReply(res, checked.reply, plan, requestId, !checked.settled);
          const watch = watchResponse(checked.after);
          forwardRequest(runtime, req, res, arrival, exchange, checked.body, watch);
        },
        () => res.destroy(),
      );
    }
    forwardRequest(runtime, req, res, arrival, exchange, undefined, undefined);
  }
}

// Streams the request to the app, or sends the body the guard already read
// and inspected: then exactly those bytes, with their own length.
function forwardRequest(
  runtime: GuardRuntime,
  req: IncomingMessage,
  res: ServerResponse,
  arrival: Arrival,
  exchange: Exchange,
  body: InspectedBody | undefined,
  watch: ResponseWatch | undefined,
): void {
  const { requestId, plan, policies, client } = arrival;
  const inspected = body?.raw;
  const { config } = policies;
  const route = exchange.route;
  const nonce = plan.csp?.nonce ? createNonce() : undefined;
  const headers = buildUpstreamHeaders(req, {
    client,
    requestId,
    proto: 'https',
    cspRequestHeader: plan.csp && nonce ? cspValue(plan.csp, nonce) : undefined,
    drop: policies.dropRequestHeaders,
  });
  const length = Number(req.headers['content-length'] ?? 0);
  const streamed = !inspected && (length > 0 || req.headers['transfer-encoding'] !== undefined);
  const hasBody = inspected !== undefined || streamed;
  if (inspected) headers['content-length'] = String(inspected.length);
  const hooks: ForwardResult = {
    clientIdleMs: config.limits.bodyIdleTimeoutMs,
    // A watch sees the app's headers before the plan removes any.
    dropHeaders: watch ? undefined : plan.remove,
    onHeaders(status, responseHeaders) {
      exchange.upstreamMs = performance.now() - exchange.startedAt;
      if (runtime.closing) res.shouldKeepAlive = false;
      watch?.headers(status, responseHeaders);
      policies.narrowCors?.(responseHeaders, req.headers.host);
      applySecurityHeaders(responseHeaders, plan, nonce);
      responseHeaders['x-request-id'] = requestId;
      exchange.observer?.onHeaders(status, responseHeaders);
    },
    onData: combineData(watch?.data, exchange.observer),
    onDone(error) {
      watch?.done();
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
  };

  const { upstream } = runtime;
  const send = (payload: Readable | Buffer | null) => {
    exchange.observer?.onForward?.(accountOf(body));
    exchange.release = upstream.forward(req, res, headers, payload, hooks);
  };
  if (!streamed) {
    if (!inspected) req.resume();
    return send(inspected ?? null);
  }
  const refuse = (error: Error) => hooks.onDone(error);
  whenBodyReady(req, route.maxBodyBytes, config.limits.bodyIdleTimeoutMs, send, refuse);
}

function combineData(
  policies: ((chunk: Buffer) => void) | undefined,
  observer: ResponseObserver | undefined,
): ((chunk: Buffer) => void) | undefined {
  if (!observer) return policies;
  return (chunk) => {
    policies?.(chunk);
    observer.onData(chunk);
  };
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
  // No limit applies to a body here, and a chunked one may never end: close
  // after the answer rather than drain it for as long as the client sends.
  const hasBody =
    req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0;
  req.resume();
  sendReply(res, reply, plan, requestId, hasBody);
}
