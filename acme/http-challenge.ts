import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type GuardRuntime, hostnameOf } from '../proxy/context.ts';
import { sendReply } from '../proxy/reply.ts';
import type { ChallengeResponder } from './challenges.ts';

const prefix = '/.well-known/acme-challenge/';
// RFC 8555 section 8.3: the token is base64url, no padding.
const tokenPattern = /^[A-Za-z0-9_-]{16,256}$/;

// Answers HTTP-01 validations on the plain-HTTP listener before anything else
// (redirect, limits, routing) sees the request. Everything under the
// challenge prefix is answered here and never forwarded: an unknown token, a
// host the token was not issued for, or an odd path gets the guard's 404.
export function withHttpChallenges(
  runtime: GuardRuntime,
  challenges: ChallengeResponder,
  next: RequestListener,
): RequestListener {
  return (req, res) => {
    const url = req.url ?? '';
    if (!url.startsWith(prefix)) return next(req, res);
    answer(runtime, challenges, req, res, url.slice(prefix.length)).catch((error: unknown) => {
      runtime.logger.error({ code: (error as { code?: string }).code }, 'acme challenge failed');
      res.destroy();
    });
  };
}

async function answer(
  runtime: GuardRuntime,
  challenges: ChallengeResponder,
  req: IncomingMessage,
  res: ServerResponse,
  token: string,
): Promise<void> {
  const startedAt = performance.now();
  const requestId = randomUUID();
  const host = hostnameOf(req.headers.host);
  const method = req.method ?? 'GET';
  const known = tokenPattern.test(token) && (method === 'GET' || method === 'HEAD');
  req.resume();
  const keyAuthorization = known ? await challenges.httpAnswerAnywhere(token, host) : undefined;

  if (keyAuthorization === undefined) {
    const plan = runtime.policies.headers.planFor('/', false);
    sendReply(res, { status: 404, code: 'GUARD_ERR_ACME_CHALLENGE_UNKNOWN' }, plan, requestId);
  } else {
    // Exactly the key authorization, nothing around it (RFC 8555 section 8.3).
    res.writeHead(200, {
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(keyAuthorization),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    res.end(method === 'HEAD' ? undefined : keyAuthorization);
  }

  const durationMs = performance.now() - startedAt;
  runtime.metrics.recordRequest('http', 'acme-challenge', res.statusCode, durationMs / 1000);
  runtime.logger.info(
    {
      reqId: requestId,
      listener: 'http',
      clientIp: req.socket.remoteAddress,
      method,
      host,
      route: 'acme-challenge',
      status: res.statusCode,
    },
    'acme challenge request',
  );
}
