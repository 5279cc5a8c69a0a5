import type { IncomingHttpHeaders } from 'node:http';
import type { SecurityEventInput } from '../audit/security-events.ts';
import type { ClientAddress } from '../proxy/client-address.ts';
import type { Reply } from '../proxy/reply.ts';
import type { InspectedBody } from './body-inspect.ts';
import type { Route } from './routes.ts';

/** What a policy sees of a request before it is forwarded. */
export type PolicyRequest = {
  readonly requestId: string;
  /** HEAD is reported as GET: the app answers both with the same handler. */
  readonly method: string;
  /** The normalised path the route was matched on. */
  readonly path: string;
  /** The request target as sent, query included. */
  readonly target: string;
  readonly route: Route;
  readonly client: ClientAddress;
  readonly headers: IncomingHttpHeaders;
  /** The inspected body, on routes with a body rule; else undefined. */
  readonly body: InspectedBody | undefined;
  readonly upgrade: boolean;
};

/** The event a refusal is recorded as; the proxy adds client, request and route. */
export type DecisionEvent = Pick<SecurityEventInput, 'type' | 'outcome' | 'actor' | 'details'>;

/**
 * What a policy that let a request through wants to see of the app's answer
 * (a lockout reads the sign-in outcome and adds its cookie).
 */
export type AfterResponse = {
  /** The app's status and headers, before they are sent on: headers may be changed. */
  headers?(status: number, headers: Record<string, string | string[] | undefined>): void;
  /** How much of the app's body to keep for done(); 0 or absent: none. */
  readonly bodyBytes?: number;
  /** Once the exchange is over: the app's status (0 when it gave none) and the kept body. */
  done?(status: number, body: Buffer): void;
};

export type Decision =
  | { readonly allow: true; readonly after?: AfterResponse }
  | { readonly allow: false; readonly reply: Reply; readonly event?: DecisionEvent };

/**
 * A policy that answers before a request is forwarded (rate limits, lockout,
 * password strength, allow-lists); docs/policies.md describes the step.
 * `appliesTo` runs on every request and must be cheap; `decide` runs only
 * when it said yes. A policy whose store fails answers by its own declared
 * rule and never throws for it.
 */
export type RequestPolicy = {
  readonly name: string;
  appliesTo(method: string, path: string, target: string, route: Route): boolean;
  decide(request: PolicyRequest): Promise<Decision> | Decision;
};

export const allowed: Decision = Object.freeze({ allow: true });
