import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import acme from 'acme-client';
import { GuardError } from '../common/errors.ts';

export type AcmeCode =
  | 'GUARD_ERR_ACME_ACCOUNT'
  | 'GUARD_ERR_ACME_ORDER'
  | 'GUARD_ERR_ACME_CHALLENGE'
  | 'GUARD_ERR_ACME_RATE_LIMITED'
  | 'GUARD_ERR_ACME_UNREACHABLE';

/** An RFC 8555 section 6.7 problem document, as much of it as operators need. */
export type AcmeProblem = {
  readonly type: string;
  readonly detail: string;
  readonly status: number | undefined;
  readonly retryAfterSeconds: number | undefined;
};

// A failed ACME step with the problem document the CA sent, so that callers
// and logs keep its type (rateLimited, unauthorized, connection...) instead of
// a flattened message.
export class AcmeError extends GuardError {
  readonly problem: AcmeProblem | undefined;

  constructor(code: AcmeCode, message: string, problem?: AcmeProblem) {
    super(code, message);
    this.name = 'AcmeError';
    this.problem = problem;
  }
}

const problemPrefix = 'urn:ietf:params:acme:error:';
const remembered: AcmeProblem[] = [];

// acme-client turns a problem document into a plain Error holding its detail
// text. Problems are noted as responses arrive and matched back by that text.
let installed = false;
const agents = new Map<string, Agent>();

/** Trust `ca` (in addition to the public roots) for requests to this directory's origin. */
export function trustForDirectory(directoryUrl: string, ca: Buffer): void {
  agents.set(new URL(directoryUrl).origin, new Agent({ ca: [...rootCertificates, ca.toString()] }));
}

export function watchAcmeProblems(): void {
  if (installed) return;
  installed = true;
  // Retries with backoff are the renewal scheduler's job; acme-client would
  // otherwise sleep through a long Retry-After inside one call. Bad nonces are
  // still retried by acme-client itself.
  const defaults = acme.axios.defaults as { timeout?: number; acmeSettings?: object };
  defaults.acmeSettings = { ...defaults.acmeSettings, retryMaxAttempts: 0 };
  defaults.timeout = 30_000;
  acme.axios.interceptors.request.use((config) => {
    const agent = config.url ? agents.get(new URL(config.url).origin) : undefined;
    if (agent) config.httpsAgent = agent;
    return config;
  });
  acme.axios.interceptors.response.use((response) => {
    const problem = problemOf(response.status, response.data, response.headers);
    if (problem) {
      remembered.push(problem);
      if (remembered.length > 32) remembered.shift();
    }
    return response;
  });
}

function problemOf(status: number, data: unknown, headers: unknown): AcmeProblem | undefined {
  if (!data || typeof data !== 'object') return undefined;
  const body = data as { type?: unknown; detail?: unknown; error?: unknown; status?: unknown };
  // A failed challenge arrives as a 200 carrying the problem in "error".
  const source =
    status >= 400 ? body : (body.error as { type?: unknown; detail?: unknown } | undefined);
  if (!source || typeof source.type !== 'string' || !source.type.startsWith(problemPrefix)) {
    return undefined;
  }
  return {
    type: source.type,
    detail: typeof source.detail === 'string' ? source.detail.replace(/\n/g, '') : '',
    status: status >= 400 ? status : undefined,
    retryAfterSeconds: retryAfterOf(headers),
  };
}

function retryAfterOf(headers: unknown): number | undefined {
  const value = (headers as Record<string, unknown> | undefined)?.['retry-after'];
  if (typeof value !== 'string') return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** The AcmeError for whatever an acme-client call threw during `step`. */
export function toAcmeError(error: unknown, step: AcmeCode): AcmeError {
  if (error instanceof AcmeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const problem = [...remembered].reverse().find((entry) => entry.detail === message);
  if (problem) {
    return new AcmeError(codeFor(problem, step), `${step}: ${problem.type}`, problem);
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z]+|^ERR_/.test(code)) {
    return new AcmeError('GUARD_ERR_ACME_UNREACHABLE', `network error (${code})`);
  }
  // With its own retries off, acme-client's axios interceptor fails on a
  // request that got no response at all (reset, refused) with this TypeError.
  if (error instanceof TypeError && message.includes("reading 'config'")) {
    return new AcmeError('GUARD_ERR_ACME_UNREACHABLE', 'network error (no response)');
  }
  return new AcmeError(step, message.slice(0, 300));
}

function codeFor(problem: AcmeProblem, step: AcmeCode): AcmeCode {
  if (problem.type === `${problemPrefix}rateLimited`) return 'GUARD_ERR_ACME_RATE_LIMITED';
  return step;
}

const networkRetryDelaysMs = [1000, 3000];

// A reset keep-alive connection or a refused connect is retried twice at
// once; anything the CA answered (a problem document, Retry-After) goes to
// the scheduler, which backs off.
export async function withNetworkRetry<T>(step: AcmeCode, run: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await run();
    } catch (error) {
      const failure = toAcmeError(error, step);
      const delay = networkRetryDelaysMs[attempt];
      if (failure.code !== 'GUARD_ERR_ACME_UNREACHABLE' || delay === undefined) throw failure;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
