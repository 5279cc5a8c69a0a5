import { randomUUID } from 'node:crypto';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { open, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditRecord } from './event-record.ts';
import { type ChainHead, genesisHash } from './hash-chain.ts';

export type SpoolOptions = {
  dir: string;
  maxBytes: number;
  flushMs: number;
  /** A segment file is closed for appends once it reaches this size. */
  segmentBytes?: number;
};

export type SpoolCursor = { segment: string; offset: number };

export type SpoolBatch = { records: AuditRecord[]; next: SpoolCursor; skipped: number };

const segmentPattern = /^segment-(\d{8})\.jsonl$/;
const readChunkBytes = 1024 * 1024;

// The local, append-only spool every event is written to before it is
// shipped. Events are buffered for at most flushMs and written (and synced)
// in one append; the shipper reads complete lines from its cursor and moves
// the cursor once the database has them. Segments behind the cursor are
// deleted. A kill -9 loses only what was still in the buffer.
export class Spool {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #flushMs: number;
  readonly #segmentBytes: number;
  readonly #sizes = new Map<string, number>();
  #cursor: SpoolCursor;
  #buffer: string[] = [];
  #bufferBytes = 0;
  #flushing: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #pendingEvents: number;
  #head: ChainHead;
  #onFlush: (() => void) | undefined;

  private constructor(options: SpoolOptions, state: RecoveredState) {
    this.#dir = options.dir;
    this.#maxBytes = options.maxBytes;
    this.#flushMs = options.flushMs;
    this.#segmentBytes = options.segmentBytes ?? 4 * 1024 * 1024;
    for (const [name, size] of state.sizes) this.#sizes.set(name, size);
    this.#cursor = state.cursor;
    this.#pendingEvents = state.pendingEvents;
    this.#head = state.head;
  }

  static open(options: SpoolOptions): Spool {
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    return new Spool(options, recover(options.dir));
  }

  get head(): ChainHead {
    return this.#head;
  }

  /** Bytes written or buffered that the database does not have yet. */
  get pendingBytes(): number {
    let total = this.#bufferBytes - this.#cursor.offset;
    for (const [name, size] of this.#sizes) if (name >= this.#cursor.segment) total += size;
    return total;
  }

  get pendingEvents(): number {
    return this.#pendingEvents + this.#buffer.length;
  }

  onFlush(listener: () => void): void {
    this.#onFlush = listener;
  }

  /**
   * Takes the record (chained to the current head) unless the spool is full;
   * a refused record leaves the head where it was, so the chain has no gap.
   */
  append(record: AuditRecord): boolean {
    const line = `${JSON.stringify(record)}\n`;
    const bytes = Buffer.byteLength(line);
    if (this.pendingBytes + bytes > this.#maxBytes) return false;
    this.#buffer.push(line);
    this.#bufferBytes += bytes;
    this.#head = { stream: record.stream, seq: record.seq, hash: record.hash };
    this.#timer ??= setTimeout(() => void this.flush(), this.#flushMs);
    return true;
  }

  /** Writes what is buffered; resolves once it is on disk. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const lines = this.#buffer;
    const bytes = this.#bufferBytes;
    this.#buffer = [];
    this.#bufferBytes = 0;
    if (lines.length === 0) return this.#flushing;
    this.#flushing = this.#flushing.then(() => this.#write(lines.join(''), bytes, lines.length));
    return this.#flushing;
  }

  async #write(text: string, bytes: number, events: number): Promise<void> {
    const segment = this.#activeSegment();
    const handle = await open(join(this.#dir, segment), 'a', 0o600);
    try {
      await handle.appendFile(text);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    this.#sizes.set(segment, (this.#sizes.get(segment) ?? 0) + bytes);
    this.#pendingEvents += events;
    this.#onFlush?.();
  }

  #activeSegment(): string {
    const last = this.#lastSegment();
    if (last !== undefined && (this.#sizes.get(last) ?? 0) < this.#segmentBytes) return last;
    const number = last === undefined ? 1 : Number(segmentPattern.exec(last)?.[1] ?? 0) + 1;
    const name = `segment-${String(number).padStart(8, '0')}.jsonl`;
    this.#sizes.set(name, 0);
    return name;
  }

  #lastSegment(): string | undefined {
    return [...this.#sizes.keys()].sort().at(-1);
  }

  /** Up to maxEvents complete records from the cursor, in order. */
  async read(maxEvents: number): Promise<SpoolBatch> {
    for (;;) {
      const { segment, offset } = this.#cursor;
      const size = this.#sizes.get(segment) ?? 0;
      const isLast = segment === this.#lastSegment();
      if (offset >= size && !isLast) {
        await this.#advancePast(segment);
        continue;
      }
      if (offset >= size) return { records: [], next: this.#cursor, skipped: 0 };
      return readLines(join(this.#dir, segment), segment, offset, size, maxEvents);
    }
  }

  /** The database has everything before `next`. */
  async acknowledge(next: SpoolCursor, events: number): Promise<void> {
    this.#cursor = next;
    this.#pendingEvents = Math.max(0, this.#pendingEvents - events);
    await writeCursor(this.#dir, next);
  }

  async #advancePast(segment: string): Promise<void> {
    const later = [...this.#sizes.keys()].sort().find((name) => name > segment);
    if (later === undefined) return;
    this.#cursor = { segment: later, offset: 0 };
    await writeCursor(this.#dir, this.#cursor);
    this.#sizes.delete(segment);
    await unlink(join(this.#dir, segment)).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.flush();
  }
}

async function readLines(
  file: string,
  segment: string,
  offset: number,
  size: number,
  maxEvents: number,
): Promise<SpoolBatch> {
  const length = Math.min(readChunkBytes, size - offset);
  const handle = await open(file, 'r');
  const chunk = Buffer.alloc(length);
  try {
    await handle.read(chunk, 0, length, offset);
  } finally {
    await handle.close();
  }
  const records: AuditRecord[] = [];
  let consumed = 0;
  let skipped = 0;
  while (records.length < maxEvents) {
    const end = chunk.indexOf(10, consumed);
    if (end < 0) break;
    const line = chunk.subarray(consumed, end).toString('utf8');
    consumed = end + 1;
    const record = parseRecord(line);
    if (record) records.push(record);
    else skipped += 1;
  }
  return { records, next: { segment, offset: offset + consumed }, skipped };
}

function parseRecord(line: string): AuditRecord | undefined {
  try {
    const value = JSON.parse(line) as AuditRecord;
    return typeof value.id === 'string' && typeof value.seq === 'number' ? value : undefined;
  } catch {
    return undefined;
  }
}

async function writeCursor(dir: string, cursor: SpoolCursor): Promise<void> {
  const file = join(dir, 'cursor.json');
  const temporary = `${file}.tmp`;
  await writeFile(temporary, JSON.stringify(cursor), { mode: 0o600 });
  await rename(temporary, file);
}

type RecoveredState = {
  sizes: Map<string, number>;
  cursor: SpoolCursor;
  pendingEvents: number;
  head: ChainHead;
};

// On start: cut a line a crash left half-written, find where shipping
// stopped and where the chain ends, and count what is still to ship.
function recover(dir: string): RecoveredState {
  const stream = readOrCreateStream(dir);
  const names = readdirSync(dir)
    .filter((name) => segmentPattern.test(name))
    .sort();
  const sizes = new Map<string, number>();
  for (const name of names) sizes.set(name, statSync(join(dir, name)).size);
  const last = names.at(-1);
  if (last !== undefined) sizes.set(last, cutPartialLine(join(dir, last)));

  let cursor = readCursor(dir) ?? { segment: names[0] ?? '', offset: 0 };
  if (!sizes.has(cursor.segment)) cursor = { segment: names[0] ?? '', offset: 0 };
  let pendingEvents = 0;
  let head: ChainHead = { stream, seq: 0, hash: genesisHash };
  for (const name of names) {
    if (name < cursor.segment) continue;
    const text = readFileSync(join(dir, name));
    const start = name === cursor.segment ? cursor.offset : 0;
    pendingEvents += countLines(text, start);
  }
  for (const name of [...names].reverse()) {
    const found = lastRecord(readFileSync(join(dir, name), 'utf8'));
    if (found) {
      head = { stream: found.stream, seq: found.seq, hash: found.hash };
      break;
    }
  }
  return { sizes, cursor, pendingEvents, head };
}

function readOrCreateStream(dir: string): string {
  const file = join(dir, 'stream');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    // Named before any event is written: the chain's name must survive a crash.
    const stream = randomUUID();
    writeFileSync(file, stream, { mode: 0o600 });
    return stream;
  }
}

function readCursor(dir: string): SpoolCursor | undefined {
  try {
    const value = JSON.parse(readFileSync(join(dir, 'cursor.json'), 'utf8')) as SpoolCursor;
    return typeof value.segment === 'string' && Number.isInteger(value.offset) ? value : undefined;
  } catch {
    return undefined;
  }
}

function cutPartialLine(file: string): number {
  const text = readFileSync(file);
  const end = text.lastIndexOf(10) + 1;
  if (end < text.length) truncateSync(file, end);
  return end;
}

function countLines(text: Buffer, start: number): number {
  let count = 0;
  for (let at = text.indexOf(10, start); at >= 0; at = text.indexOf(10, at + 1)) count += 1;
  return count;
}

function lastRecord(text: string): AuditRecord | undefined {
  const lines = text.split('\n');
  for (let index = lines.length - 1; index >= 0; index -= 1) {
    const record = parseRecord(lines[index] ?? '');
    if (record) return record;
  }
  return undefined;
}
