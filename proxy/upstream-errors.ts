import type { Reply } from './reply.ts';

export class BodyTooLargeError extends Error {
  readonly code = 'GUARD_BODY_TOO_LARGE';
}

export class BodyIdleError extends Error {
  readonly code = 'GUARD_BODY_IDLE';
}

const unreachable = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export type Classified = { reason: string; reply: Reply };

// Maps a failed forward to what the client hears and the metric reason. The
// upstream's own error text never reaches the client.
export function classifyForwardError(error: unknown): Classified {
  const code = (error as { code?: string } | undefined)?.code ?? '';
  if (error instanceof BodyTooLargeError) {
    return { reason: 'body_too_large', reply: { status: 413, code: 'GUARD_ERR_BODY_TOO_LARGE' } };
  }
  if (error instanceof BodyIdleError) {
    return { reason: 'body_idle', reply: { status: 408, code: 'GUARD_ERR_REQUEST_TIMEOUT' } };
  }
  if (unreachable.has(code)) {
    return { reason: 'connect', reply: { status: 502, code: 'GUARD_ERR_UPSTREAM_UNREACHABLE' } };
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return { reason: 'timeout', reply: { status: 504, code: 'GUARD_ERR_UPSTREAM_TIMEOUT' } };
  }
  return { reason: 'failed', reply: { status: 502, code: 'GUARD_ERR_UPSTREAM_FAILED' } };
}
