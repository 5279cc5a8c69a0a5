import type { RedisClient } from '../policies/redis-client.ts';
import type { SessionOwner, SessionOwnerStore } from './session-owners.ts';

const keyPrefix = 'session-owner:';

// Session owners in the shared Redis, so an admin action reaching any
// instance finds who signed in on another. Each entry expires with its
// cookie. The local store keeps a copy: while Redis is away, an instance
// still knows the sessions it saw itself, and no request waits longer than
// the client's command timeout.
export function createRedisSessionOwners(
  redis: RedisClient,
  local: SessionOwnerStore,
): SessionOwnerStore {
  return {
    async remember(tokenHash, owner, ttlSeconds) {
      await local.remember(tokenHash, owner, ttlSeconds);
      if (ttlSeconds <= 0) return;
      const value = JSON.stringify({ account: owner.account, userId: owner.userId });
      await redis.set(`${keyPrefix}${tokenHash}`, value, 'EX', ttlSeconds).catch(() => undefined);
    },
    async lookup(tokenHash) {
      try {
        const value = await redis.get(`${keyPrefix}${tokenHash}`);
        if (value !== null) return parseOwner(value);
      } catch {
        // Redis away: what this instance saw itself.
      }
      return local.lookup(tokenHash);
    },
    async forget(tokenHash) {
      await local.forget(tokenHash);
      await redis.del(`${keyPrefix}${tokenHash}`).catch(() => undefined);
    },
  };
}

function parseOwner(value: string): SessionOwner | undefined {
  try {
    const parsed = JSON.parse(value) as { account?: unknown; userId?: unknown };
    const owner: { account?: string; userId?: string } = {};
    if (typeof parsed.account === 'string') owner.account = parsed.account;
    if (typeof parsed.userId === 'string') owner.userId = parsed.userId;
    return owner;
  } catch {
    return undefined;
  }
}
