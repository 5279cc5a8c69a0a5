import type { BodyRuleConfig } from '../config/policy-schema.ts';
import type { RouteConfig } from '../config/schema.ts';
import { normaliseTarget } from './normalise-path.ts';

export type Route = {
  readonly name: string;
  readonly maxBodyBytes: number;
  readonly sensitive: boolean;
  /** The path logs and audit events show, when the request's own would reveal a secret. */
  readonly loggedPath?: string | undefined;
  /** Present: the body is read whole and inspected before anything is forwarded. */
  readonly body?: BodyRuleConfig | undefined;
};

type CompiledRoute = Route & {
  readonly path: string;
  readonly prefix: boolean;
  readonly methods: ReadonlySet<string> | undefined;
};

export type RouteTable = { match(method: string, normalisedPath: string): Route };

// Routes are compared on the normalised path; exact routes win over prefixes,
// longer prefixes over shorter ones, so the order in the file does not matter.
export function buildRouteTable(routes: readonly RouteConfig[], defaultMaxBodyBytes: number) {
  const fallback: Route = { name: 'default', maxBodyBytes: defaultMaxBodyBytes, sensitive: false };
  const compiled = routes.map((route) => compile(route, defaultMaxBodyBytes));
  compiled.sort((a, b) => rank(b) - rank(a));

  const table: RouteTable = {
    match(method, path) {
      for (const route of compiled) {
        if (route.methods && !route.methods.has(method)) continue;
        if (route.path === path) return route;
        if (route.prefix && (route.path === '/' || path.startsWith(`${route.path}/`))) return route;
      }
      return fallback;
    },
  };
  return table;
}

function compile(route: RouteConfig, defaultMaxBodyBytes: number): CompiledRoute {
  const normalised = normaliseTarget(route.path);
  const path = normalised.ok ? normalised.path : route.path;
  return {
    name: route.name,
    path,
    prefix: route.prefix,
    methods: route.methods ? new Set(route.methods) : undefined,
    maxBodyBytes: route.maxBodyBytes ?? defaultMaxBodyBytes,
    sensitive: route.sensitive,
    loggedPath: route.secretInPath ? loggedPathOf(path, route.prefix) : undefined,
    body: route.body,
  };
}

// A reset link carries its token as the last segment of the path: the log
// keeps where the request went, not the token.
function loggedPathOf(path: string, prefix: boolean): string {
  if (!prefix) return path;
  return `${path === '/' ? '' : path}/[redacted]`;
}

function rank(route: CompiledRoute): number {
  return (route.prefix ? 0 : 1_000_000) + route.path.length * 2 + (route.methods ? 1 : 0);
}
