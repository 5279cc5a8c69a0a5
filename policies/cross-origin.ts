import type { CrossOriginConfig } from '../config/edge-schema.ts';
import type { Reply } from '../proxy/reply.ts';
import { type AllowedOrigins, originOf } from './allowed-origins.ts';
import {
  allowed,
  type Decision,
  type DecisionEvent,
  type PolicyRequest,
  type RequestPolicy,
} from './decision.ts';

const safeMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
const readMethods: ReadonlySet<string> = new Set(['GET', 'HEAD']);
const refusal: Reply = { status: 403, code: 'GUARD_ERR_ORIGIN_REFUSED' };

// Cross-site request forgery and cross-origin reads, stopped before the app:
// a state change (anything but GET, HEAD, OPTIONS) must come from an allowed
// origin, a Socket.IO connection must not come from a foreign one, CORS
// preflights get the guard's answer, and the app's own CORS answer can only
// narrow it (cors-response.ts, applied to every answer). The guard's CSP
// report endpoint answers before policies.
export function buildCrossOrigin(
  config: CrossOriginConfig,
  origins: AllowedOrigins,
): RequestPolicy | undefined {
  if (!config.enabled) return undefined;

  return {
    name: 'cross-origin',
    // Reads stay on the fast path; only Socket.IO is checked on GET.
    appliesTo: (method, path) => !readMethods.has(method) || isSocketIo(path),
    decide(request) {
      const host = request.headers.host;
      if (request.method === 'OPTIONS' && request.headers['access-control-request-method']) {
        return answerPreflight(request, config, origins);
      }
      if (isSocketIo(request.path) || request.upgrade) {
        const origin = request.headers.origin;
        if (origin === undefined) return allowed;
        const seen = originOf({ origin });
        return origins.has(seen, host) ? allowed : refuse(seen, 'socket-origin');
      }
      if (safeMethods.has(request.method)) return allowed;

      const seen = originOf(request.headers);
      if (seen === 'missing') {
        const refused =
          config.withoutOrigin === 'refuse' ||
          (config.withoutOrigin === 'refuse-with-cookies' && request.headers.cookie !== undefined);
        return refused ? refuse(seen, 'no-origin') : allowed;
      }
      return origins.has(seen, host) ? allowed : refuse(seen, 'foreign-origin');
    },
  };
}

// The browser asks before a cross-origin request it may not send unasked;
// the app never needs to see these questions.
function answerPreflight(
  request: PolicyRequest,
  config: CrossOriginConfig,
  origins: AllowedOrigins,
): Decision {
  const origin = request.headers.origin;
  const seen = typeof origin === 'string' ? originOf({ origin }) : 'missing';
  if (!origins.has(seen, request.headers.host)) return refuse(seen, 'preflight');
  const { preflight } = config;
  const headers: Record<string, string> = {
    'access-control-allow-origin': seen,
    'access-control-allow-methods': preflight.allowedMethods.join(', ').toUpperCase(),
    'access-control-allow-headers': preflight.allowedHeaders.join(', '),
    'access-control-max-age': String(preflight.maxAgeSeconds),
    vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
  };
  if (preflight.allowCredentials) headers['access-control-allow-credentials'] = 'true';
  return { allow: false, reply: { status: 204, code: 'GUARD_NO_CONTENT', headers } };
}

function refuse(origin: string, reason: string): Decision {
  const event: DecisionEvent = {
    type: 'origin.denied',
    outcome: 'denied',
    details: { reason, origin: origin.slice(0, 200) },
  };
  return { allow: false, reply: refusal, event };
}

// Normalised paths lose their trailing slash: "/socket.io/?EIO=4" is "/socket.io".
function isSocketIo(path: string): boolean {
  return path === '/socket.io' || path.startsWith('/socket.io/');
}
