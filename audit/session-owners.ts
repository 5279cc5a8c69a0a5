import { createHash } from 'node:crypto';
import type { Logger } from '../common/log.ts';

/** Who a session belongs to, as the sign-in response that created it said. */
export type SessionOwner = { readonly account?: string; readonly userId?: string };

// The shared store of session owners. Keys are hashes of session tokens: the
// token itself is a credential and is never kept. The in-memory store serves
// one instance; several instances need a shared implementation (Redis), with
// the same contract: entries expire with the cookie that carried the token.
export type SessionOwnerStore = {
  remember(tokenHash: string, owner: SessionOwner, ttlSeconds: number): Promise<void>;
  lookup(tokenHash: string): Promise<SessionOwner | undefined>;
  forget(tokenHash: string): Promise<void>;
};

export function hashSessionToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The owner of a session; a store that fails is logged and counts as unknown. */
export async function lookupOwner(
  store: SessionOwnerStore,
  logger: Logger,
  tokenHash: string,
): Promise<SessionOwner | undefined> {
  try {
    return await store.lookup(tokenHash);
  } catch {
    logger.warn({ store: 'session-owners' }, 'session owner lookup failed');
    return undefined;
  }
}

/** The first value of a request header a client may have repeated. */
export function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

type Entry = { owner: SessionOwner; expiresAt: number };

// Bounded: past maxEntries the oldest entries go first (a Map keeps insertion
// order), so a flood of sign-ins costs memory only up to the bound.
export function createMemorySessionOwners(maxEntries = 100_000): SessionOwnerStore {
  const entries = new Map<string, Entry>();
  return {
    async remember(tokenHash, owner, ttlSeconds) {
      if (ttlSeconds <= 0) return;
      entries.delete(tokenHash);
      entries.set(tokenHash, { owner, expiresAt: Date.now() + ttlSeconds * 1000 });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
      }
    },
    async lookup(tokenHash) {
      const entry = entries.get(tokenHash);
      if (!entry) return undefined;
      if (entry.expiresAt > Date.now()) return entry.owner;
      entries.delete(tokenHash);
      return undefined;
    },
    async forget(tokenHash) {
      entries.delete(tokenHash);
    },
  };
}
