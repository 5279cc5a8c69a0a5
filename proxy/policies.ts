import type { Registry } from 'prom-client';
import type { Logger } from '../common/log.ts';
import type { Config } from '../config/schema.ts';
import { buildAdminAccess } from '../policies/admin-access.ts';
import { buildAllowedOrigins } from '../policies/allowed-origins.ts';
import {
  buildLockoutRequestPolicy,
  buildPasswordRequestPolicy,
} from '../policies/auth-request-policies.ts';
import { removeWideningCors } from '../policies/cors-response.ts';
import { buildCrossOrigin } from '../policies/cross-origin.ts';
import type { RequestPolicy } from '../policies/decision.ts';
import { normaliseTarget } from '../policies/normalise-path.ts';
import { createRateLimitObserver } from '../policies/rate-limit-observer.ts';
import { buildRateLimits } from '../policies/rate-limits.ts';
import { buildRouteTable, type RouteTable } from '../policies/routes.ts';
import { buildSecurityHeaders, type HeaderMap } from '../policies/security-headers.ts';
import type { GuardStore } from '../policies/store.ts';
import type { AuthRuntime } from './auth-runtime.ts';
import { buildTrustList } from './client-address.ts';
import type { GuardPolicies } from './context.ts';
import { buildCspReportEndpoint } from './csp-report-endpoint.ts';
import { buildRequestHeaderDrop } from './request-header-drop.ts';
import type { ResourceScope } from './shared-resources.ts';

/**
 * What policies with state are built on: one store and registry per guard,
 * and `resources` for anything that must outlive a reload.
 */
export type PolicyServices = {
  store: GuardStore;
  registry: Registry;
  logger: Logger;
  resources: ResourceScope;
  /** The sign-in policies, built once per guard (they keep state across reloads). */
  auth?: AuthRuntime;
};

// Built again on every reload. Anything that must outlive a reload (a store
// connection, counters, metrics, an audit sink) is taken from
// `services.resources`, never created here: see "State across reloads" in
// docs/reload.md.
export function buildPolicies(config: Config, services: PolicyServices): GuardPolicies {
  // Metrics are registered once per guard: a second registration throws.
  const observer = services.resources.acquire('rate-limit-observer', null, () =>
    createRateLimitObserver(services.registry, services.logger),
  );
  const rateLimits = buildRateLimits(config, services.store, observer, services.resources);
  const cspReports = buildCspReportEndpoint(
    config.cspReports,
    services.store,
    config.rateLimitSettings.ipv6PrefixLength,
    services.logger,
    services.resources,
  );
  const origins = buildAllowedOrigins(config.crossOrigin, config.tls.domains);
  // Order matters: the first refusal answers. Cheaper and broader policies
  // first; a forged cross-site request is refused before it can use up its
  // victim's rate limit.
  const beforeForward: RequestPolicy[] = [
    buildCrossOrigin(config.crossOrigin, origins),
    buildAdminAccess(config.adminAccess),
    rateLimits,
  ].filter((policy): policy is RequestPolicy => policy !== undefined);
  // The lockout comes last: an attempt it admits must reach the app, or it
  // stays counted as in flight until its time runs out.
  if (services.auth) {
    beforeForward.push(buildPasswordRequestPolicy(services.auth.password, services.auth.metrics));
    beforeForward.push(buildLockoutRequestPolicy(services.auth.lockout));
  }
  const routes = buildRouteTable(config.routes, config.limits.maxBodyBytes);
  warnAboutUnreadAccounts(config, routes, services.logger);
  return Object.freeze({
    config,
    routes,
    headers: buildSecurityHeaders(config.headers, cspReports?.path),
    trusted: buildTrustList(config.trustedProxies),
    hosts: new Set(config.tls.domains.map((domain) => domain.toLowerCase())),
    beforeForward: Object.freeze(beforeForward),
    narrowCors: config.crossOrigin.enabled
      ? (headers: HeaderMap, host: string | undefined) => removeWideningCors(headers, origins, host)
      : undefined,
    cspReports,
    dropRequestHeaders: buildRequestHeaderDrop(config, services),
  });
}

// A rule keyed on the account only counts requests whose body the guard
// reads; on a route without a body rule it would silently count nothing.
function warnAboutUnreadAccounts(config: Config, routes: RouteTable, logger: Logger): void {
  for (const rule of config.rateLimits) {
    if (!rule.enabled || !rule.key.includes('account')) continue;
    const methods = rule.match.methods ?? ['POST'];
    const path = normaliseTarget(rule.match.path);
    const inspected = path.ok && methods.some((method) => routes.match(method, path.path).body);
    if (!inspected) {
      logger.warn({ rule: rule.name }, 'rate limit keyed on account matches no inspected route');
    }
  }
}
