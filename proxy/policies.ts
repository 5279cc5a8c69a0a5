import type { Registry } from 'prom-client';
import type { Logger } from '../common/log.ts';
import type { Config } from '../config/schema.ts';
import type { RequestPolicy } from '../policies/decision.ts';
import { createRateLimitObserver } from '../policies/rate-limit-observer.ts';
import { buildRateLimits } from '../policies/rate-limits.ts';
import { buildRouteTable } from '../policies/routes.ts';
import { buildSecurityHeaders } from '../policies/security-headers.ts';
import type { GuardStore } from '../policies/store.ts';
import { buildTrustList } from './client-address.ts';
import type { GuardPolicies } from './context.ts';

/** What policies with state are built on: one store and registry per guard. */
export type PolicyServices = { store: GuardStore; registry: Registry; logger: Logger };

export function buildPolicies(config: Config, services: PolicyServices): GuardPolicies {
  const rateLimits = buildRateLimits(
    config,
    services.store,
    createRateLimitObserver(services.registry, services.logger),
  );
  // Order matters: the first refusal answers. Cheaper and broader policies first.
  const beforeForward: RequestPolicy[] = [rateLimits];
  return Object.freeze({
    config,
    routes: buildRouteTable(config.routes, config.limits.maxBodyBytes),
    headers: buildSecurityHeaders(config.headers),
    trusted: buildTrustList(config.trustedProxies),
    hosts: new Set(config.tls.domains.map((domain) => domain.toLowerCase())),
    beforeForward: Object.freeze(beforeForward),
  });
}
