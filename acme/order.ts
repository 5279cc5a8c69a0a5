import acme from 'acme-client';
import type { Logger } from '../common/log.ts';
import { type AcmeCode, AcmeError, toAcmeError, withNetworkRetry } from './acme-problem.ts';
import type { AcmeStorage, CertificateState } from './acme-storage.ts';
import type { ChallengeResponder } from './challenges.ts';

export type ChallengeType = 'http-01' | 'tls-alpn-01';

export type OrderContext = {
  readonly client: acme.Client;
  readonly storage: AcmeStorage;
  readonly challenges: ChallengeResponder;
  /** The challenge types to offer, most preferred first. */
  readonly challengeTypes: readonly ChallengeType[];
  readonly keyType: 'ecdsa-p256' | 'rsa-2048';
  readonly logger: Logger;
};

type Order = acme.Order;
type Authorization = acme.Authorization;
type Challenge = Authorization['challenges'][number];

const live = new Set(['pending', 'ready', 'processing', 'valid']);

// One certificate, RFC 8555 section 7.4 step by step rather than acme-client's
// auto mode, so that the order URL is recorded before anything else happens:
// after a crash the same order is picked up (or replaced when the CA no longer
// knows it) instead of a new one placed on every start.
export async function orderCertificate(
  context: OrderContext,
  id: string,
  state: CertificateState,
  replaces: string | undefined,
): Promise<{ cert: string; key: Buffer }> {
  const names = state.names;
  let order = await resumeOrder(context, id, state);
  let key = order ? context.storage.readPendingKey(id) : undefined;
  if (!order || !key) {
    key = await createKey(context.keyType);
    context.storage.writePendingKey(id, key);
    const identifiers = names.map((value) => ({ type: 'dns' as const, value }));
    order = await placeOrder(context.client, identifiers, replaces);
    state.pendingOrderUrl = order.url;
    context.storage.writeState(id, state);
  }

  if (order.status === 'pending') await authorize(context, order);
  if (order.status === 'pending' || order.status === 'ready') {
    const [, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names }, key);
    const current = order;
    order = await step('GUARD_ERR_ACME_ORDER', () => context.client.finalizeOrder(current, csr));
  }
  const finalized = order;
  const cert = await step('GUARD_ERR_ACME_ORDER', () => context.client.getCertificate(finalized));
  return { cert, key };
}

// RFC 9773 section 5: "replaces" names the certificate this one renews. A CA
// that says it was replaced already gets the order without it.
async function placeOrder(
  client: acme.Client,
  identifiers: { type: 'dns'; value: string }[],
  replaces: string | undefined,
): Promise<Order> {
  try {
    return await step('GUARD_ERR_ACME_ORDER', () =>
      client.createOrder({ identifiers, ...(replaces ? { replaces } : {}) }),
    );
  } catch (error) {
    const type = (error as AcmeError).problem?.type ?? '';
    if (!replaces || !type.endsWith(':alreadyReplaced')) throw error;
    return step('GUARD_ERR_ACME_ORDER', () => client.createOrder({ identifiers }));
  }
}

async function resumeOrder(
  context: OrderContext,
  id: string,
  state: CertificateState,
): Promise<Order | undefined> {
  const url = state.pendingOrderUrl;
  if (!url) return undefined;
  try {
    const order = await context.client.getOrder({ url } as Order);
    const ordered = order.identifiers.map((entry) => entry.value).sort();
    const same = ordered.join(',') === [...state.names].sort().join(',');
    if (live.has(order.status) && same) {
      context.logger.info({ certificate: id, status: order.status }, 'acme order resumed');
      return order;
    }
  } catch (error) {
    const failure = toAcmeError(error, 'GUARD_ERR_ACME_ORDER');
    context.logger.info(
      { certificate: id, problemType: failure.problem?.type },
      'acme order not resumable',
    );
  }
  state.pendingOrderUrl = undefined;
  return undefined;
}

async function authorize(context: OrderContext, order: Order): Promise<void> {
  const authorizations = await step('GUARD_ERR_ACME_ORDER', () =>
    context.client.getAuthorizations(order),
  );
  for (const authz of authorizations) {
    if (authz.status === 'valid') continue;
    const challenge = pickChallenge(context.challengeTypes, authz);
    if (!challenge) {
      throw new AcmeError(
        'GUARD_ERR_ACME_CHALLENGE',
        `no usable challenge offered for ${authz.identifier.value}`,
      );
    }
    await validate(context, authz, challenge);
  }
}

function pickChallenge(types: readonly ChallengeType[], authz: Authorization) {
  for (const type of types) {
    const found = authz.challenges.find((challenge) => challenge.type === type);
    if (found) return found;
  }
  return undefined;
}

async function validate(context: OrderContext, authz: Authorization, challenge: Challenge) {
  const { client, challenges } = context;
  const name = authz.identifier.value;
  const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
  if (challenge.type === 'http-01') {
    if (!(await challenges.addHttp(challenge.token, name, keyAuthorization))) {
      context.logger.warn({ name }, 'acme store unavailable, token answered here only');
    }
  } else {
    const [alpnKey, alpnCert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
    challenges.addAlpn(name, alpnCert, alpnKey);
  }
  try {
    await step('GUARD_ERR_ACME_CHALLENGE', () => client.completeChallenge(challenge));
    await step('GUARD_ERR_ACME_CHALLENGE', () => client.waitForValidStatus(challenge));
    context.logger.info({ name, challenge: challenge.type }, 'acme challenge validated');
  } finally {
    // Tokens are removed once the CA has decided, valid or not.
    if (challenge.type === 'http-01') challenges.removeHttp(challenge.token);
    else challenges.removeAlpn(name);
  }
}

async function createKey(keyType: OrderContext['keyType']): Promise<Buffer> {
  return keyType === 'rsa-2048'
    ? acme.crypto.createPrivateRsaKey(2048)
    : acme.crypto.createPrivateEcdsaKey('P-256');
}

function step<T>(code: AcmeCode, run: () => Promise<T>): Promise<T> {
  return withNetworkRetry(code, run);
}
