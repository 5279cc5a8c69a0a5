import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { readTlsMaterial } from '../common/tls-material.ts';
import type { StoreConfig } from '../config/policy-schema.ts';

export type RedisSettings = NonNullable<StoreConfig['redis']>;
/** A single server (directly or through Sentinel) or a cluster: the same commands. */
export type RedisClient = Redis | Cluster;

// Commands never wait for a connection: with no offline queue a command sent
// while Redis is away fails at once, and with no resend after a reconnect an
// increment that may already have reached Redis is never applied twice.
export function createRedisClient(settings: RedisSettings): RedisClient {
  const url = new URL(settings.url);
  const tls = url.protocol === 'rediss:' ? tlsOptions(settings, url) : undefined;
  const node: RedisOptions = {
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: settings.connectTimeoutMs,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(tls ? { tls } : {}),
  };
  const retryStrategy = (attempt: number) => Math.min(attempt * 200, 2000);

  if (settings.cluster) {
    return new Cluster(settings.cluster.nodes.map(splitHostPort), {
      keyPrefix: settings.keyPrefix,
      enableOfflineQueue: false,
      clusterRetryStrategy: retryStrategy,
      redisOptions: node,
    });
  }
  const db = Number(url.pathname.slice(1) || 0);
  const common = { ...node, keyPrefix: settings.keyPrefix, enableOfflineQueue: false, db };
  if (settings.sentinel) {
    const { masterName, nodes, password } = settings.sentinel;
    return new Redis({
      ...common,
      name: masterName,
      sentinels: nodes.map(splitHostPort),
      sentinelRetryStrategy: retryStrategy,
      ...(password ? { sentinelPassword: password } : {}),
      ...(tls ? { enableTLSForSentinelMode: true } : {}),
    });
  }
  return new Redis({
    ...common,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || 6379),
    retryStrategy,
  });
}

// Node verifies the certificate against the host connected to, but sends
// SNI only when told: a TLS proxy in front of Redis may route on it. With
// Sentinel or a cluster each node has its own host, so only the one server
// named by the url gets it.
function tlsOptions(settings: RedisSettings, url: URL): ConnectionOptions {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const single = !settings.sentinel && !settings.cluster;
  return {
    ...(settings.ca ? { ca: readTlsMaterial(settings.ca, 'store.redis.ca') } : {}),
    ...(single && isIP(host) === 0 ? { servername: host } : {}),
  };
}

function splitHostPort(text: string): { host: string; port: number } {
  const at = text.lastIndexOf(':');
  return { host: text.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(text.slice(at + 1)) };
}
