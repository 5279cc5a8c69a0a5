import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** One HTTP request as the double received it, WebSocket frames excluded. */
export type RecordedRequest = {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  /** The first `KEPT_BODY_BYTES` of the body; complete once the request has ended. */
  body: Buffer;
  /** Every byte of the body counted, including any not kept in `body`. */
  bodyBytes: number;
};

export type ReceivedBody = { bytes: Buffer; totalBytes: number; complete: boolean };

// Large enough for every JSON and Server Action body the app accepts (1 MB); uploads
// beyond it are only counted, so a 25 MB attachment does not sit in every test's memory.
export const KEPT_BODY_BYTES = 1024 * 1024 + 1;

const bodies = new WeakMap<IncomingMessage, Promise<ReceivedBody>>();

/**
 * Records the request and starts reading its body once, so the recorder and the route
 * handlers see the same bytes without competing for the stream.
 */
export function recordRequest(req: IncomingMessage, requests: RecordedRequest[]): void {
  const record = describeRequest(req);
  requests.push(record);
  // Reading a bodiless request to its end makes Node emit 'close' on it, which
  // Socket.IO takes for a client that dropped its held long-poll.
  const hasBody =
    req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  if (hasBody) bodies.set(req, collectBody(req, record));
}

/** Records an upgrade request; its socket carries frames, which are not recorded. */
export function recordUpgrade(req: IncomingMessage, requests: RecordedRequest[]): void {
  requests.push(describeRequest(req));
}

/** The body read by `recordRequest`; an empty body for requests it never saw. */
export function bodyOf(req: IncomingMessage): Promise<ReceivedBody> {
  return (
    bodies.get(req) ?? Promise.resolve({ bytes: Buffer.alloc(0), totalBytes: 0, complete: true })
  );
}

function describeRequest(req: IncomingMessage): RecordedRequest {
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers: copyHeaders(req.headers),
    rawHeaders: [...req.rawHeaders],
    body: Buffer.alloc(0),
    bodyBytes: 0,
  };
}

function copyHeaders(headers: IncomingHttpHeaders): RecordedRequest['headers'] {
  const copy: RecordedRequest['headers'] = {};
  for (const [name, value] of Object.entries(headers)) {
    copy[name] = Array.isArray(value) ? [...value] : value;
  }
  return copy;
}

function collectBody(req: IncomingMessage, record: RecordedRequest): Promise<ReceivedBody> {
  const kept: Buffer[] = [];
  let keptBytes = 0;

  return new Promise((resolve) => {
    const finish = (complete: boolean): void => {
      record.body = Buffer.concat(kept, keptBytes);
      resolve({ bytes: record.body, totalBytes: record.bodyBytes, complete });
    };

    req.on('data', (chunk: Buffer) => {
      record.bodyBytes += chunk.length;
      const room = KEPT_BODY_BYTES - keptBytes;
      if (room <= 0) return;
      const slice = chunk.length > room ? chunk.subarray(0, room) : chunk;
      kept.push(slice);
      keptBytes += slice.length;
    });
    req.once('end', () => finish(true));
    // An aborted upload never ends; the handlers still get what arrived.
    req.once('close', () => finish(req.complete));
    req.once('error', () => finish(false));
  });
}
