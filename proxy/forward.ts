import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import type { Config } from '../config/schema.ts';
import { connectionOptions, hopByHop } from './hop-by-hop.ts';
import type { UpstreamHeaders } from './request-headers.ts';

export type ForwardResult = {
  /** Called with the lower-cased upstream headers just before they are written. */
  onHeaders(statusCode: number, headers: Record<string, string | string[] | undefined>): void;
  onDone(error: Error | undefined): void;
  /** Each chunk of the upstream body, for policies that read the answer. */
  onData?(chunk: Buffer): void;
  /** A client that reads nothing of the response for this long is cut off; 0: never. */
  readonly clientIdleMs?: number;
};

export type Upstream = {
  readonly origin: URL;
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    headers: UpstreamHeaders,
    body: Readable | Buffer | null,
    hooks: ForwardResult,
  ): void;
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
      pool.dispatch(options, new ResponseRelay(res, hooks));
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
  #stalled: NodeJS.Timeout | undefined;

  constructor(res: ServerResponse, hooks: ForwardResult) {
    this.#res = res;
    this.#hooks = hooks;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    const res = this.#res;
    if (res.destroyed) {
      controller.abort(new Error('client went away'));
      return;
    }
    res.once('close', () => {
      clearTimeout(this.#stalled);
      if (!this.#done) controller.abort(new Error('client went away'));
    });
    res.on('drain', () => {
      clearTimeout(this.#stalled);
      this.#stalled = undefined;
      controller.resume();
    });
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (statusCode < 200) return;
    for (const name of connectionOptions(headers.connection)) delete headers[name];
    for (const name of hopByHop) delete headers[name];
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
    if (this.#res.write(chunk)) return;
    controller.pause();
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
