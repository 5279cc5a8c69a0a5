import { type BlockList, isIP } from 'node:net';
import type { RateLimitRuleConfig } from '../config/policy-schema.ts';
import type { Config } from '../config/schema.ts';
import { buildTrustList } from '../proxy/client-address.ts';
import type { Reply } from '../proxy/reply.ts';
import type { ResourceScope } from '../proxy/shared-resources.ts';
import { accountOf } from './body-inspect.ts';
import { groupAddress, hashKey, sessionsOf } from './client-keys.ts';
import { allowed, type Decision, type PolicyRequest, type RequestPolicy } from './decision.ts';
import { normaliseTarget } from './normalise-path.ts';
import {
  type Consumed,
  createRuleLimiter,
  type RuleLimiter,
  type StoreErrorListener,
} from './rule-limiter.ts';
import type { GuardStore } from './store.ts';

type CompiledRule = {
  readonly config: RateLimitRuleConfig;
  readonly path: string;
  readonly methods: ReadonlySet<string> | undefined;
  readonly limiter: RuleLimiter;
};

export type RateLimitObserver = {
  storeError: StoreErrorListener;
  limited(rule: string): void;
};

/** The rate-limit policy: every enabled rule of `rateLimits`, one limiter each. */
export function buildRateLimits(
  config: Config,
  store: GuardStore,
  observer: RateLimitObserver,
  resources: ResourceScope,
): RequestPolicy {
  const rules = config.rateLimits
    .filter((rule) => rule.enabled)
    .map((rule) => compile(rule, store, observer.storeError, resources));
  const exempt: BlockList | undefined = buildTrustList(config.rateLimitSettings.exemptSources);
  const prefixLength = config.rateLimitSettings.ipv6PrefixLength;

  const matching = (method: string, path: string, target: string) =>
    rules.filter((rule) => matches(rule, asMethod(method), path, target));

  return {
    name: 'rate-limit',
    appliesTo(method, path, target) {
      for (const rule of rules) if (matches(rule, asMethod(method), path, target)) return true;
      return false;
    },
    async decide(request) {
      if (exempt && isExempt(exempt, request.client.ip)) return allowed;
      const applied = matching(request.method, request.path, request.target).flatMap((rule) =>
        keysFor(rule.config, request, prefixLength).map((key) => ({ rule, key })),
      );
      const outcomes = await Promise.all(applied.map(({ rule, key }) => rule.limiter.consume(key)));
      return decideFrom(
        applied.map(({ rule }) => rule.config),
        outcomes,
        request,
        observer,
      );
    },
  };
}

function compile(
  rule: RateLimitRuleConfig,
  store: GuardStore,
  onStoreError: StoreErrorListener,
  resources: ResourceScope,
): CompiledRule {
  const normalised = normaliseTarget(rule.match.path);
  const methods = rule.match.methods ? new Set(rule.match.methods.map(asMethod)) : undefined;
  return {
    config: rule,
    path: normalised.ok ? normalised.path : rule.match.path,
    methods,
    limiter: createRuleLimiter(rule, store, onStoreError, resources),
  };
}

// The app answers HEAD with its GET handler, so both count alike.
function asMethod(method: string): string {
  return method === 'HEAD' ? 'GET' : method;
}

function matches(rule: CompiledRule, method: string, path: string, target: string): boolean {
  if (rule.methods && !rule.methods.has(method)) return false;
  const { prefix, handshakeOnly } = rule.config.match;
  const onPath =
    rule.path === path || (prefix && (rule.path === '/' || path.startsWith(`${rule.path}/`)));
  if (!onPath) return false;
  return !handshakeOnly || opensSocketSession(target);
}

// Engine.IO opens a session for a request without a (non-empty) sid; one that
// names a sid either joins a session or is refused, and opens nothing. Of a
// repeated sid Engine.IO reads the last, so "sid=x&sid=" opens a session:
// any empty one counts, whatever comes before it.
function opensSocketSession(target: string): boolean {
  const queryAt = target.indexOf('?');
  if (queryAt === -1) return true;
  const sids = new URLSearchParams(target.slice(queryAt + 1)).getAll('sid');
  return sids.length === 0 || sids.includes('');
}

// A rule applies only when every part of its key is known: a request that
// names no account is counted by the address rules, not by an account rule.
// A request with several sessions is counted once for each of them.
function keysFor(
  rule: RateLimitRuleConfig,
  request: PolicyRequest,
  prefixLength: number,
): string[] {
  let keys: string[][] = [[]];
  for (const part of rule.key) {
    let values: string[];
    if (part === 'ip') values = [groupAddress(request.client.ip, prefixLength)];
    else if (part === 'session') values = sessionsOf(request.headers);
    else {
      const account = accountOf(request.body);
      values = account === undefined ? [] : [hashKey(account)];
    }
    keys = keys.flatMap((parts) => values.map((value) => [...parts, value]));
  }
  return keys.map((parts) => parts.join('|'));
}

function isExempt(list: BlockList, ip: string): boolean {
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

function decideFrom(
  rules: readonly RateLimitRuleConfig[],
  outcomes: readonly Consumed[],
  request: PolicyRequest,
  observer: RateLimitObserver,
): Decision {
  let worst: { rule: RateLimitRuleConfig; retryMs: number } | undefined;
  let denied: RateLimitRuleConfig | undefined;
  outcomes.forEach((outcome, index) => {
    const rule = rules[index];
    if (!rule) return;
    if (outcome.kind === 'limited' && (!worst || outcome.retryMs > worst.retryMs)) {
      worst = { rule, retryMs: outcome.retryMs };
    }
    if (outcome.kind === 'store-error' && outcome.fallback === 'deny') denied ??= rule;
  });

  if (worst) {
    observer.limited(worst.rule.name);
    return limitedDecision(worst.rule, worst.retryMs, request);
  }
  if (denied) {
    const reply: Reply = {
      status: 503,
      code: 'GUARD_ERR_STORE_UNAVAILABLE',
      headers: { 'retry-after': '5' },
    };
    return { allow: false, reply };
  }
  return allowed;
}

function limitedDecision(rule: RateLimitRuleConfig, retryMs: number, request: PolicyRequest) {
  const seconds = Math.max(1, Math.ceil(retryMs / 1000));
  const reply: Reply = {
    status: 429,
    code: 'GUARD_ERR_RATE_LIMITED',
    message: 'Too many requests. Please try again later.',
    headers: {
      'retry-after': String(seconds),
      'x-retry-after': String(seconds),
      'ratelimit-policy': `"${rule.name}";q=${rule.limit};w=${rule.windowSeconds}`,
      ratelimit: `"${rule.name}";r=0;t=${seconds}`,
    },
  };
  // The account is named by its hash, as in the store: an email typed into a
  // sign-in form is not evidence enough to write it into the trail.
  const account = rule.key.includes('account') ? accountOf(request.body) : undefined;
  const details = { rule: rule.name, key: rule.key.join('+'), retryAfterSeconds: seconds };
  const decision: Decision = {
    allow: false,
    reply,
    event: {
      type: 'rate.limited',
      outcome: 'denied',
      details: account ? { ...details, accountHash: hashKey(account) } : details,
    },
  };
  return decision;
}
