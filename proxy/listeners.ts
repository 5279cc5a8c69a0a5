import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { CertificateStore } from '../acme/cert-store.ts';
import type { ChallengeResponder } from '../acme/challenges.ts';
import { withHttpChallenges } from '../acme/http-challenge.ts';
import type { Config } from '../config/schema.ts';
import { parseListenAddress } from '../config/units.ts';
import { type AdminRoutes, createAdminServer } from './admin.ts';
import { createClientErrorHandler } from './client-errors.ts';
import type { GuardRuntime } from './context.ts';
import { holdContinue } from './expect-continue.ts';
import { createHttpHandler } from './http-handler.ts';
import { listenOn } from './listen.ts';
import { tlsProtocolOptions } from './tls-options.ts';
import { createUpgradeHandler, type UpgradeTracker } from './upgrade.ts';

export type ListenerKind = 'https' | 'http' | 'admin';
export type Ports = {
  https: number;
  http?: number;
  admin?: number;
  /** The database tunnel's port: started once, not moved by a reload. */
  dbTunnel?: number;
};

type Bound = { readonly address: string; readonly server: Server; readonly port: number };

/** Listeners bound for a configuration, not yet in service. */
export type ListenerChange = {
  readonly changed: readonly ListenerKind[];
  commit(): void;
  abort(): Promise<void>;
};

const kinds: readonly ListenerKind[] = ['https', 'http', 'admin'];

// The guard's listening sockets. A reload binds listeners whose address
// changed before anything else is touched; the ones they replace stop
// accepting and close once their last connection ends, so requests in flight
// and WebSockets on them finish undisturbed.
export class Listeners {
  readonly ports: Ports = { https: 0 };
  readonly #current = new Map<ListenerKind, Bound>();
  /** Listeners replaced by a reload, until their last connection ends. */
  readonly #retiring = new Map<Server, Promise<void>>();
  readonly #runtime: GuardRuntime;
  readonly #store: CertificateStore;
  readonly #upgrades: UpgradeTracker;
  readonly #adminRoutes: AdminRoutes;
  readonly #challenges: ChallengeResponder | undefined;

  constructor(
    runtime: GuardRuntime,
    store: CertificateStore,
    upgrades: UpgradeTracker,
    adminRoutes: AdminRoutes,
    challenges?: ChallengeResponder,
  ) {
    this.#runtime = runtime;
    this.#store = store;
    this.#upgrades = upgrades;
    this.#adminRoutes = adminRoutes;
    this.#challenges = challenges;
    // New handshakes on the listener without SNI get the newest certificate.
    store.onInstall(() => {
      const current = store.fallback;
      const https = this.#current.get('https')?.server as HttpsServer | undefined;
      if (current && https) https.setSecureContext({ ...tlsProtocolOptions, ...current.pair });
    });
  }

  /** Every server still open, retiring ones included, for shutdown. */
  get servers(): Server[] {
    return [...[...this.#current.values()].map((bound) => bound.server), ...this.#retiring.keys()];
  }

  /** Stops every listener from accepting; settles once all their connections ended. */
  stopAccepting(): Promise<void>[] {
    const current = [...this.#current.values()].map(
      (bound) => new Promise<void>((resolve) => bound.server.close(() => resolve())),
    );
    return [...current, ...this.#retiring.values()];
  }

  async bind(config: Config): Promise<ListenerChange> {
    const fresh = new Map<ListenerKind, Bound>();
    const removed: ListenerKind[] = [];
    try {
      for (const kind of kinds) {
        const address = config.listen[kind];
        const running = this.#current.get(kind);
        if (running?.address === address) continue;
        if (address === false) {
          if (running) removed.push(kind);
          continue;
        }
        const server = this.#create(kind, config);
        const port = await listenOn(server, address, `listen.${kind}`);
        fresh.set(kind, { address, server, port });
      }
    } catch (error) {
      await Promise.all([...fresh.values()].map((bound) => closeNow(bound.server)));
      throw error;
    }
    return {
      changed: [...fresh.keys(), ...removed],
      commit: () => this.#commit(fresh, removed),
      abort: async () => {
        await Promise.all([...fresh.values()].map((bound) => closeNow(bound.server)));
      },
    };
  }

  /** Limits that live servers read per connection or per sweep. */
  applyLimits(config: Config): void {
    for (const [kind, bound] of this.#current) {
      if (kind === 'admin') continue;
      Object.assign(bound.server, limitOptions(config));
    }
  }

  #commit(fresh: Map<ListenerKind, Bound>, removed: ListenerKind[]): void {
    for (const kind of [...fresh.keys(), ...removed]) {
      const old = this.#current.get(kind);
      if (old) this.#retire(old.server);
      this.#current.delete(kind);
      if (kind !== 'https') delete this.ports[kind];
    }
    for (const [kind, bound] of fresh) {
      this.#current.set(kind, bound);
      this.ports[kind] = bound.port;
    }
  }

  // Stop accepting; answers on kept-alive connections ask the client to
  // reconnect (to the new address), idle ones are closed as they go idle.
  #retire(server: Server): void {
    server.prependListener('request', (_req, res) => {
      res.shouldKeepAlive = false;
    });
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    sweep.unref();
    const closed = new Promise<void>((resolve) => {
      server.close(() => {
        clearInterval(sweep);
        this.#retiring.delete(server);
        resolve();
      });
    });
    this.#retiring.set(server, closed);
    server.closeIdleConnections();
  }

  #create(kind: ListenerKind, config: Config): Server {
    const runtime = this.#runtime;
    if (kind === 'admin') return createAdminServer(runtime, this.#adminRoutes);
    const options = {
      ...limitOptions(config),
      // Node checks header and request deadlines on this sweep (30 s by
      // default), which would let slow-header clients hold sockets far longer.
      connectionsCheckingInterval: Math.min(1000, config.limits.headersTimeoutMs),
      // The guard refuses a missing Host itself, with its JSON answer and headers.
      requireHostHeader: false,
    };
    let server: Server;
    if (kind === 'http') {
      const plain = createHttpHandler(runtime, 'http');
      const challenges = this.#challenges;
      const handlePlain = challenges ? withHttpChallenges(runtime, challenges, plain) : plain;
      server = createHttpServer(options, handlePlain);
      server.on('checkContinue', continueLater(handlePlain));
      server.on('checkExpectation', handlePlain);
      server.on('clientError', createClientErrorHandler(runtime, false));
    } else {
      const fallback = this.#store.fallback;
      if (!fallback) throw new Error('no certificate installed');
      const challenges = this.#challenges;
      const handleHttps = createHttpHandler(runtime, 'https');
      const https = createHttpsServer(
        {
          ...tlsProtocolOptions,
          ...options,
          cert: fallback.pair.cert,
          key: fallback.pair.key,
          // TLS-ALPN-01 (RFC 8737): validation handshakes ask for acme-tls/1.
          ...(challenges
            ? { ALPNCallback: challenges.selectProtocol.bind(challenges) }
            : { ALPNProtocols: ['http/1.1'] }),
          SNICallback: (name, done) =>
            done(null, challenges?.contextForHandshake(name) ?? this.#store.lookup(name)?.context),
        },
        handleHttps,
      );
      const handleUpgrade = createUpgradeHandler(runtime, this.#upgrades);
      https.on('upgrade', handleUpgrade);
      // Without these listeners Node drops a CONNECT silently and answers an
      // unknown Expect with its own bare 417; the guard refuses both itself.
      https.on('connect', handleUpgrade);
      https.on('checkContinue', continueLater(handleHttps));
      https.on('checkExpectation', handleHttps);
      https.on('clientError', createClientErrorHandler(runtime, true));
      https.on('tlsClientError', () => {
        runtime.metrics.clientErrors.inc({ reason: 'tls_handshake' });
      });
      server = https;
    }
    // Header counts are checked by the guard itself (431), so the parser must
    // keep every header instead of silently dropping those past its limit.
    server.maxHeadersCount = 0;
    return server;
  }
}

function continueLater(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  return (req: IncomingMessage, res: ServerResponse) => {
    holdContinue(req, res);
    handle(req, res);
  };
}

function limitOptions(config: Config) {
  return {
    maxHeaderSize: config.limits.maxHeaderBytes,
    requestTimeout: config.limits.requestTimeoutMs,
    headersTimeout: config.limits.headersTimeoutMs,
    keepAliveTimeout: config.limits.keepAliveTimeoutMs,
  };
}

function closeNow(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export function isLoopbackListen(address: string): boolean {
  const host = parseListenAddress(address)?.host;
  return host !== undefined && (host === '::1' || host === 'localhost' || host.startsWith('127.'));
}
