import { findSession } from './double-sessions.ts';
import type { Exchange } from './double-state.ts';
import { redirectToLogin, sendEmpty, sendJson } from './http-helpers.ts';
import {
  answerCorsReflect,
  answerHeadersCase,
  answerSized,
  answerSlowly,
  echoRequest,
  streamChunks,
} from './probe-routes.ts';
import { bodyOf } from './request-recorder.ts';

type ApiRoute = {
  methods: string[];
  /** Protected routes answer 307 to /login without a session, as the app's middleware. */
  needsSession: boolean;
  handle: (exchange: Exchange) => void | Promise<void>;
};

const MEGABYTE = 1024 * 1024;
const ANY_METHOD = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

const API_ROUTES: Record<string, ApiRoute> = {
  '/api/health': publicRoute(['GET', 'HEAD'], answerHealth),
  '/api/csp-report': publicRoute(['POST'], acceptCspReport),
  '/api/upload/attachment': publicRoute(['POST'], acceptUpload(25 * MEGABYTE)),
  '/api/upload/avatar': protectedRoute(['POST'], acceptUpload(2 * MEGABYTE)),
  '/api/upload/emoji': protectedRoute(['POST'], acceptUpload(128 * 1024)),
  '/api/admin/audit-logs': protectedRoute(['GET'], listAuditLogs),
  '/api/admin/export': protectedRoute(['POST'], startExport),
  '/api/echo': publicRoute(ANY_METHOD, echoRequest),
  '/api/stream': publicRoute(['GET'], streamChunks),
  '/api/slow': publicRoute(['GET'], answerSlowly),
  '/api/size': publicRoute(['GET', 'HEAD'], answerSized),
  '/api/headers-case': publicRoute(['GET'], answerHeadersCase),
  '/api/cors-reflect': publicRoute(ANY_METHOD, answerCorsReflect),
};

/** Every /api route outside /api/auth. */
export async function handleApi(exchange: Exchange): Promise<void> {
  const { req, res, url, state } = exchange;
  const route = API_ROUTES[url.pathname];
  const signedIn = findSession(state, req.headers) !== undefined;
  if (route === undefined) {
    if (!signedIn) return redirectToLogin(req, res);
    return sendJson(res, 404, { error: 'Not Found' });
  }
  if (route.needsSession && !signedIn) return redirectToLogin(req, res);
  if (!route.methods.includes(req.method ?? 'GET')) {
    res.setHeader('Allow', route.methods.join(', '));
    return sendEmpty(res, 405);
  }
  await route.handle(exchange);
}

function publicRoute(methods: string[], handle: ApiRoute['handle']): ApiRoute {
  return { methods, needsSession: false, handle };
}

function protectedRoute(methods: string[], handle: ApiRoute['handle']): ApiRoute {
  return { methods, needsSession: true, handle };
}

function answerHealth({ res }: Exchange): void {
  res.setHeader('Cache-Control', 'no-store');
  sendJson(res, 200, { status: 'healthy', timestamp: new Date().toISOString() });
}

async function acceptCspReport({ req, res }: Exchange): Promise<void> {
  await bodyOf(req);
  sendEmpty(res, 204);
}

/** Counts the body rather than parsing multipart: proxies care about size, not content. */
function acceptUpload(maxBytes: number): ApiRoute['handle'] {
  return async ({ req, res }) => {
    const body = await bodyOf(req);
    if (body.totalBytes > maxBytes) {
      return sendJson(res, 413, { error: 'File too large', maxBytes, size: body.totalBytes });
    }
    sendJson(res, 200, { size: body.totalBytes });
  };
}

function listAuditLogs({ res }: Exchange): void {
  const logs = [
    { id: 'log_1', action: 'member.role_changed', createdAt: '2025-01-02T00:00:00.000Z' },
    { id: 'log_2', action: 'invitation.created', createdAt: '2025-01-03T00:00:00.000Z' },
  ];
  sendJson(res, 200, { logs, nextCursor: null });
}

async function startExport({ req, res }: Exchange): Promise<void> {
  await bodyOf(req);
  sendJson(res, 200, { exportId: 'export_1', status: 'queued' });
}
