import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import type { Config } from '../config/schema.ts';
import { connectionOptions, hopByHop } from './hop-by-hop.ts';
import type { UpstreamHeaders } from './request-headers.ts';

export type ResponseHeaders = Record<string, string | string[] | undefined>;

export type ForwardResult = {
  /** Response headers dropped along with the hop-by-hop ones. */
  dropHeaders?: ReadonlySet<string> | undefined;
  /** Called with the lower-cased upstream headers just before they are written. */
  onHeaders(statusCode: number, headers: ResponseHeaders): void;
  onDone(error: Error | undefined): void;
  /** Each chunk of the upstream body, for policies that read the answer. */
  onData?(chunk: Buffer): void;
  /** A client that reads nothing of the response for this long is cut off; 0: never. */
  readonly clientIdleMs?: number;
};

export type Upstream = {
  readonly origin: URL;
  /**
   * Sends the request on. The caller calls what it returns when the client's
   * response closes, which releases the upstream request if it is still on.
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    headers: UpstreamHeaders,
    body: Readable | Buffer | null,
    hooks: ForwardResult,
  ): () => void;
  close(): Promise<void>;
};

export function createUpstream(config: Config['upstream'], ca: Buffer | undefined): Upstream {
  const origin = new URL(config.url);
  const pool = new Pool(origin.origin, {
    connections: config.connections,
    connect: { timeout: config.connectTimeoutMs, ...(ca ? { ca } : {}) },
    headersTimeout: config.responseTimeoutMs,
    bodyTimeout: config.bodyIdleTimeoutMs,
    pipelining: 1,
  });

  return {
    origin,
    forward(req, res, headers, body, hooks) {
      const options: Dispatcher.DispatchOptions = {
        path: req.url ?? '/',
        method: req.method as Dispatcher.HttpMethod,
        headers,
        body,
      };
      const relay = new ResponseRelay(res, hooks);
      pool.dispatch(options, relay);
      return () => relay.clientGone();
    },
    close: () => pool.close(),
  };
}

// Streams the upstream response into the client's response with backpressure,
// and releases the upstream request the moment the client goes away. While the
// client does not read, the upstream connection waits paused; a client that
// never reads again would keep it from the pool for good, so it is cut off.
class ResponseRelay implements Dispatcher.DispatchHandler {
  readonly #res: ServerResponse;
  readonly #hooks: ForwardResult;
  #done = false;
  #gone = false;
  #controller: Dispatcher.DispatchController | undefined;
  #stalled: NodeJS.Timeout | undefined;

  constructor(res: ServerResponse, hooks: ForwardResult) {
    this.#res = res;
    this.#hooks = hooks;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#gone || this.#res.destroyed) {
      controller.abort(new Error('client went away'));
      return;
    }
    this.#controller = controller;
  }

  /** The client's response has closed: whatever is still on upstream stops. */
  clientGone(): void {
    this.#gone = true;
    clearTimeout(this.#stalled);
    if (!this.#done) this.#controller?.abort(new Error('client went away'));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    upstream: ResponseHeaders,
  ): void {
    // RFC 9110 section 15: status codes run from 100 to 599. Anything else
    // is relayed to no one: the client gets the guard's 502.
    if (statusCode < 100 || statusCode > 599) {
      controller.abort(new InvalidStatusError(statusCode));
      return;
    }
    if (statusCode < 200) return;
    const headers = endToEnd(upstream, this.#hooks.dropHeaders);
    this.#hooks.onHeaders(statusCode, headers);
    if (this.#res.destroyed) {
      controller.abort(new Error('client went away'));
      return;
    }
    this.#res.writeHead(statusCode, headers);
    // RFC 9110 section 8.6: a 304 may carry the Content-Length of the
    // representation it stands for, yet never a body; undici counts the
    // missing bytes as a broken response. These answers end with their head.
    if (statusCode === 204 || statusCode === 304) this.#finish();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#done) return;
    this.#hooks.onData?.(chunk);
    if (this.#res.write(chunk) || controller.paused) return;
    controller.pause();
    this.#res.once('drain', () => {
      clearTimeout(this.#stalled);
      this.#stalled = undefined;
      controller.resume();
    });
    const idleMs = this.#hooks.clientIdleMs ?? 0;
    if (idleMs > 0 && this.#stalled === undefined) {
      this.#stalled = setTimeout(() => this.#res.destroy(), idleMs).unref();
    }
  }

  onResponseEnd(): void {
    this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#res.end();
    this.#hooks.onDone(undefined);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#hooks.onDone(error);
  }
}

class InvalidStatusError extends Error {
  readonly code = 'GUARD_UPSTREAM_INVALID_STATUS';

  constructor(statusCode: number) {
    super(`the upstream answered with status ${statusCode}`);
  }
}

// A copy rather than deletes in place: an object that loses properties turns
// into a slow dictionary, and writeHead walks it once more.
function endToEnd(upstream: ResponseHeaders, drop: ReadonlySet<string> | undefined) {
  const named =
    upstream.connection === undefined ? undefined : connectionOptions(upstream.connection);
  const headers: ResponseHeaders = {};
  for (const name in upstream) {
    if (hopByHop.has(name) || named?.has(name) || drop?.has(name)) continue;
    headers[name] = upstream[name];
  }
  return headers;
}
