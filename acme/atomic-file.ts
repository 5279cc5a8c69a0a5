import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

// Write to a temporary name and rename, so a reader (or a crash) never sees a
// half-written certificate or key.
export function writeFileAtomic(file: string, data: string | Buffer, mode: number): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temporary, data, { mode });
  renameSync(temporary, file);
}
