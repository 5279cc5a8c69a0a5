import { type DestinationStream, pino } from 'pino';
import { createLogger, type Logger, type LogLevel } from '../common/log.ts';

/** One access line: fixed fields, nothing the client could make secret. */
export type AccessRecord = {
  readonly reqId: string;
  readonly listener: string;
  readonly clientIp: string;
  readonly method: string | undefined;
  readonly path: string;
  readonly route: string;
  readonly status: number;
  readonly durationMs: number;
  readonly upstreamMs: number | undefined;
};

export type AccessLog = {
  write(record: AccessRecord): void;
  /** Writes what is waiting now; the guard calls it last thing on shutdown. */
  flush(): void;
};

// Access lines wait for the end of the current turn of the event loop and are
// then written together: formatted one after the other by a logger of the
// same settings and bindings as `logger`, and handed to its destination as one
// string. Written one by one amid the proxying, each line cost the guard as
// much CPU as a tenth of the request: the logger's code ran cold each time,
// and the destination measured its whole pending buffer for every line. A
// line still leaves well within a millisecond of its request's end.
export function createAccessLog(logger: Logger): AccessLog {
  const destination = (logger as unknown as Record<symbol, DestinationStream>)[
    pino.symbols.streamSym
  ];
  if (!destination) throw new Error('the logger has no destination to write access lines to');
  const lines: string[] = [];
  const collect: DestinationStream = {
    write(line: string) {
      lines.push(line);
    },
  };
  // `bindings()` includes the base fields the new logger writes already.
  const { service: _service, ...bindings } = logger.bindings();
  const formatter = createLogger(logger.level as LogLevel, collect).child(bindings);
  let waiting: AccessRecord[] = [];
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    const batch = waiting;
    waiting = [];
    for (const record of batch) formatter.info(record, 'request');
    if (lines.length === 0) return;
    const text = lines.join('');
    lines.length = 0;
    destination.write(text);
  };

  return {
    write(record) {
      waiting.push(record);
      if (scheduled) return;
      scheduled = true;
      setImmediate(flush);
    },
    flush,
  };
}
