import { readJsonAnswer } from '../common/answer-json.ts';
import type { SessionOwner } from './session-owners.ts';

// Reading the few fields the audit trail takes from the app's JSON answers:
// the user of a sign-in or sign-up, the code of an error. Answers also carry
// session tokens; nothing but these fields is ever taken from them.

// The first maxBytes of an answer, as it streams past. Past the bound nothing
// is kept: a JSON cut short would not parse anyway.
export class AnswerCapture {
  readonly #maxBytes: number;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #overflowed = false;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  add(chunk: Buffer): void {
    if (this.#overflowed) return;
    if (this.#bytes + chunk.length > this.#maxBytes) {
      this.#overflowed = true;
      this.#chunks = [];
      this.#bytes = 0;
      return;
    }
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
  }

  /** The JSON kept, decoded to at most four times the bound; undefined if none. */
  json(contentEncoding: string | string[] | undefined): unknown {
    if (this.#bytes === 0) return undefined;
    const body = Buffer.concat(this.#chunks, this.#bytes);
    return readJsonAnswer(body, contentEncoding, this.#maxBytes * 4);
  }
}

/** The `user` of an answer as a session owner: lower-cased email and id. */
export function userOf(answer: unknown): SessionOwner | undefined {
  if (answer === null || typeof answer !== 'object') return undefined;
  const user = (answer as { user?: { id?: unknown; email?: unknown } }).user;
  if (!user || typeof user !== 'object') return undefined;
  const owner: { account?: string; userId?: string } = {};
  if (typeof user.email === 'string') owner.account = user.email.toLowerCase();
  if (typeof user.id === 'string') owner.userId = user.id;
  return owner.account || owner.userId ? owner : undefined;
}

// better-auth's codes are the upper-snake form of their message; anything
// else in that field is not a code and is not recorded.
const errorCodePattern = /^[A-Z][A-Z0-9_]{0,79}$/;

/** The `code` of an error answer such as {"code":"INVALID_TOKEN","message":...}. */
export function errorCodeOf(answer: unknown): string | undefined {
  if (answer === null || typeof answer !== 'object') return undefined;
  const code = (answer as { code?: unknown }).code;
  return typeof code === 'string' && errorCodePattern.test(code) ? code : undefined;
}
