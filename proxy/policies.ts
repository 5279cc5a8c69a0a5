import type { Config } from '../config/schema.ts';
import { buildRouteTable } from '../policies/routes.ts';
import { buildSecurityHeaders } from '../policies/security-headers.ts';
import { buildTrustList } from './client-address.ts';
import type { GuardPolicies } from './context.ts';

export function buildPolicies(config: Config): GuardPolicies {
  return Object.freeze({
    config,
    routes: buildRouteTable(config.routes, config.limits.maxBodyBytes),
    headers: buildSecurityHeaders(config.headers),
    trusted: buildTrustList(config.trustedProxies),
    hosts: new Set(config.tls.domains.map((domain) => domain.toLowerCase())),
  });
}
