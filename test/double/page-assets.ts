import type { Exchange } from './double-state.ts';
import { sendText } from './http-helpers.ts';

// Same-origin scripts, standing in for Next.js chunks under /_next/static. Keeping them
// external means a CSP of script-src 'self' still lets the page connect its socket, while
// the page's one inline script shows whether inline code was allowed.

/** Loaded first so it can record violations caused by everything after it. */
const CSP_PROBE_SCRIPT = `window.__cspViolations = window.__cspViolations || [];
document.addEventListener('securitypolicyviolation', function (event) {
  window.__cspViolations.push({
    violatedDirective: event.violatedDirective,
    effectiveDirective: event.effectiveDirective,
    blockedURI: event.blockedURI,
    sourceFile: event.sourceFile,
    lineNumber: event.lineNumber,
    disposition: event.disposition
  });
});
window.__externalRan = true;
`;

/** Connects like the app: long-polling first, then the upgrade to WebSocket. */
const REALTIME_SCRIPT = `(function () {
  var socket = io({ transports: ['polling', 'websocket'] });
  window.__socket = socket;
  window.__socketConnected = false;
  socket.on('connect', function () {
    window.__socketConnected = true;
    window.__socketTransport = socket.io.engine.transport.name;
  });
  socket.io.on('open', function () {
    socket.io.engine.on('upgrade', function (transport) {
      window.__socketTransport = transport.name;
    });
  });
  socket.on('hello', function (message) { window.__socketHello = message; });
  socket.on('connect_error', function (error) { window.__socketError = error.message; });
})();
`;

const ASSETS: Record<string, string> = {
  '/_next/static/chunks/csp-probe.js': CSP_PROBE_SCRIPT,
  '/_next/static/chunks/realtime.js': REALTIME_SCRIPT,
};

export const CSP_PROBE_PATH = '/_next/static/chunks/csp-probe.js';
export const REALTIME_PATH = '/_next/static/chunks/realtime.js';

/** GET /_next/static/...: public, immutable, never behind the session check. */
export function serveAsset({ req, res, url }: Exchange) {
  const source = ASSETS[url.pathname];
  if (source === undefined) return sendText(res, 404, 'Not Found\n');
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return sendText(res, 405, 'Method Not Allowed\n');

  res.writeHead(200, {
    'Content-Type': 'application/javascript; charset=UTF-8',
    'Content-Length': Buffer.byteLength(source),
    'Cache-Control': 'public, max-age=31536000, immutable',
  });
  res.end(source);
}
