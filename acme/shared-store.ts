import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { RedisClient } from '../policies/redis-client.ts';
import type { AccountRecord, CertificateState } from './acme-storage.ts';

/** A lock left by a crashed instance is free again after this long. */
export const lockTtlMs = 60_000;
/** The holder extends its lock this often while the order runs. */
const lockRenewMs = 20_000;
/** An HTTP-01 answer outlives no validation (they take seconds). */
const tokenTtlMs = 10 * 60_000;

// Extend or delete the lock only while it still carries our token, so an
// instance whose lock expired never frees the lock another one took since.
const renewScript = `if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const releaseScript = `if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1]) else return 0 end`;

/** What every instance must know of the last attempts, so the backoff holds for all. */
export type SharedAttempts = Pick<
  CertificateState,
  'failures' | 'failureTimes' | 'notBefore' | 'lastError'
> & { updatedAt: number };

export type SharedAccount = AccountRecord & { key: string };

export type HttpToken = { host: string; keyAuthorization: string };

export type Lease = { readonly lost: boolean; release(): Promise<void> };

export type Claim = { kind: 'acquired'; lease: Lease } | { kind: 'held'; expiresInMs: number };

// The ACME records several guard instances share through Redis, under
// acme:<directory>:…: one lock per certificate, the certificate bundle (key
// and chain), the attempts, the account, and HTTP-01 answers. Every method
// throws when Redis does not answer; callers decide what that means.
export class SharedAcmeStore {
  readonly #redis: RedisClient;
  readonly #base: string;
  readonly #channel: string;
  readonly #instance = randomBytes(8).toString('hex');
  #subscriber: RedisClient | undefined;

  constructor(redis: RedisClient, keyPrefix: string, directoryKey: string) {
    this.#redis = redis;
    this.#base = `acme:${directoryKey}`;
    // Channels carry no key prefix in Redis, so it is written here.
    this.#channel = `${keyPrefix}${this.#base}:installed`;
  }

  keyOf(kind: 'lock' | 'bundle' | 'attempts', id: string): string {
    return `${this.#base}:${kind}:${id}`;
  }

  /** Resolves true once Redis answers, false after `timeoutMs`. */
  whenReady(timeoutMs: number): Promise<boolean> {
    const redis = this.#redis;
    if (redis.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ready: boolean) => {
        clearTimeout(timer);
        redis.off('ready', onReady);
        resolve(ready);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      redis.once('ready', onReady);
    });
  }

  async claim(id: string): Promise<Claim> {
    const key = this.keyOf('lock', id);
    const token = `${this.#instance}:${randomBytes(8).toString('hex')}`;
    const set = await this.#redis.set(key, token, 'PX', lockTtlMs, 'NX');
    if (set !== 'OK') {
      const remaining = await this.#redis.pttl(key);
      return { kind: 'held', expiresInMs: remaining > 0 ? remaining : 1000 };
    }
    return { kind: 'acquired', lease: this.#lease(key, token) };
  }

  #lease(key: string, token: string): Lease {
    const redis = this.#redis;
    let lost = false;
    const renew = async () => {
      try {
        const extended = await redis.eval(renewScript, 1, key, token, String(lockTtlMs));
        if (extended !== 1) lost = true;
      } catch {
        // Redis away: the lock runs out on its own; the order carries on.
        lost = true;
      }
    };
    const timer = setInterval(() => void renew(), lockRenewMs);
    timer.unref();
    return {
      get lost() {
        return lost;
      },
      async release() {
        clearInterval(timer);
        await redis.eval(releaseScript, 1, key, token).catch(() => undefined);
      },
    };
  }

  readBundle(id: string): Promise<string | null> {
    return this.#redis.get(this.keyOf('bundle', id));
  }

  /** Stores the bundle, then tells the other instances to load it. */
  async writeBundle(id: string, bundle: string): Promise<void> {
    await this.#redis.set(this.keyOf('bundle', id), bundle);
    await this.#redis.publish(this.#channel, `${this.#instance} ${id}`);
  }

  async readAttempts(id: string): Promise<SharedAttempts | undefined> {
    return parse<SharedAttempts>(await this.#redis.get(this.keyOf('attempts', id)));
  }

  async writeAttempts(id: string, attempts: SharedAttempts, notify: boolean): Promise<void> {
    await this.#redis.set(this.keyOf('attempts', id), JSON.stringify(attempts));
    if (notify) await this.#redis.publish(this.#channel, `${this.#instance} ${id}`);
  }

  async readAccount(): Promise<SharedAccount | undefined> {
    return parse<SharedAccount>(await this.#redis.get(`${this.#base}:account`));
  }

  /** Stores the account unless one is there already; answers the one in force. */
  async offerAccount(account: SharedAccount): Promise<SharedAccount> {
    const key = `${this.#base}:account`;
    const set = await this.#redis.set(key, JSON.stringify(account), 'NX');
    if (set === 'OK') return account;
    return (await this.readAccount()) ?? account;
  }

  async putToken(token: string, entry: HttpToken): Promise<void> {
    await this.#redis.set(`acme:http-01:${token}`, JSON.stringify(entry), 'PX', tokenTtlMs);
  }

  async getToken(token: string): Promise<HttpToken | undefined> {
    return parse<HttpToken>(await this.#redis.get(`acme:http-01:${token}`));
  }

  async deleteToken(token: string): Promise<void> {
    await this.#redis.del(`acme:http-01:${token}`);
  }

  /**
   * Calls `listener` with the certificate id whenever another instance
   * installed a certificate or recorded a failure. A dedicated connection,
   * since a subscribed connection takes no other commands; it subscribes
   * again by itself after a reconnect.
   */
  subscribe(listener: (id: string) => void): void {
    const subscriber = duplicate(this.#redis);
    this.#subscriber = subscriber;
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_channel: string, message: string) => {
      const [from, id] = message.split(' ');
      if (from !== this.#instance && id) listener(id);
    });
    subscriber.subscribe(this.#channel).catch(() => undefined);
  }

  close(): void {
    this.#subscriber?.disconnect(false);
  }
}

function duplicate(redis: RedisClient): RedisClient {
  // Queued until connected, so the subscription survives a slow start.
  const options = { enableOfflineQueue: true, commandTimeout: 5000 };
  if (redis instanceof Cluster) {
    const redisOptions = { ...redis.options.redisOptions, ...options };
    return redis.duplicate(undefined, { enableOfflineQueue: true, redisOptions });
  }
  return redis.duplicate(options);
}

function parse<T>(text: string | null): T | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
