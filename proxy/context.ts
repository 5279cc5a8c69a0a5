import type { BlockList } from 'node:net';
import type { CertificateAdmin } from '../acme/admin-certs.ts';
import type { CertificateStore } from '../acme/cert-store.ts';
import type { SecurityEvents } from '../audit/security-events.ts';
import type { SessionOwnerStore } from '../audit/session-owners.ts';
import type { Logger } from '../common/log.ts';
import type { Config } from '../config/schema.ts';
import type { RequestPolicy } from '../policies/decision.ts';
import type { RouteTable } from '../policies/routes.ts';
import type { HeaderMap, SecurityHeaders } from '../policies/security-headers.ts';
import type { GuardStore } from '../policies/store.ts';
import type { AccessLog } from './access-log.ts';
import type { AuthRuntime } from './auth-runtime.ts';
import type { CspReportEndpoint } from './csp-report-endpoint.ts';
import type { Upstream } from './forward.ts';
import type { Metrics } from './metrics.ts';
import type { RequestHeaderDrop } from './request-header-drop.ts';
import type { SharedResources } from './shared-resources.ts';

// Everything a request needs, built once from the configuration. A request
// reads it whole at its start, so a later reload can swap it atomically.
export type GuardPolicies = {
  readonly config: Config;
  readonly routes: RouteTable;
  readonly headers: SecurityHeaders;
  readonly trusted: BlockList | undefined;
  readonly hosts: ReadonlySet<string>;
  /** Asked in order before a request is forwarded; the first refusal answers. */
  readonly beforeForward: readonly RequestPolicy[];
  /** Removes CORS headers of the app's answer that widen `crossOrigin`; Host as sent. */
  readonly narrowCors: ((headers: HeaderMap, host: string | undefined) => void) | undefined;
  /** The guard's own CSP report endpoint, when collection is on. */
  readonly cspReports: CspReportEndpoint | undefined;
  /** Client headers removed before forwarding (Next.js internal ones); none: undefined. */
  readonly dropRequestHeaders: RequestHeaderDrop | undefined;
};

// The runtime outlives reloads: a reload swaps `policies` (and `upstream`
// when its settings changed) in one step; everything else is kept.
export type GuardRuntime = {
  policies: GuardPolicies;
  upstream: Upstream;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** One line per request, written in batches. */
  readonly accessLog: AccessLog;
  readonly events: SecurityEvents;
  /** State shared with other instances (Redis), or in memory. */
  readonly store: GuardStore;
  /** Certificates in service, kept across reloads. */
  readonly certificateStore: CertificateStore;
  /** Long-lived stores, connections and sinks, reused by reloads. */
  readonly resources: SharedResources;
  /** Whose session a cookie is, learnt from sign-in answers (hashed tokens only). */
  readonly sessionOwners: SessionOwnerStore;
  /** Password and lockout policies, with their state; built once. */
  readonly auth: AuthRuntime;
  /** The port browsers reach the HTTPS listener on, for redirects. */
  httpsPublicPort: number;
  closing: boolean;
  /** ACME certificates: readiness (none still on order), listing and renewal. */
  readonly certificates?: CertificateAdmin;
};

// "Example.COM:8443" and "[::1]:8443" name the hosts example.com and ::1.
// Nearly every request names the same host, so the last answer is kept.
let lastHost = '';
let lastHostname: string | undefined;
export function hostnameOf(host: string | undefined): string | undefined {
  if (!host) return undefined;
  if (host === lastHost) return lastHostname;
  const hostname = parseHostname(host);
  lastHost = host;
  lastHostname = hostname;
  return hostname;
}

function parseHostname(host: string): string | undefined {
  const bracketed = /^\[([0-9a-f:.]+)\](?::\d+)?$/i.exec(host);
  if (bracketed) return bracketed[1]?.toLowerCase();
  const match = /^([a-z0-9.-]+)(?::\d{1,5})?$/i.exec(host);
  return match?.[1]?.toLowerCase().replace(/\.$/, '');
}
