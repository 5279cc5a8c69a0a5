import acme from 'acme-client';
import type { Logger } from '../common/log.ts';
import { withNetworkRetry } from './acme-problem.ts';
import type { AcmeStorage } from './acme-storage.ts';

export type AccountOptions = {
  readonly directoryUrl: string;
  readonly email: string | undefined;
  readonly externalAccountBinding: { kid: string; hmacKey: string } | undefined;
};

// acme-client polls orders and challenges with this backoff; validation by a
// real CA takes seconds, so the first look comes after one.
const pollOptions = { backoffAttempts: 12, backoffMin: 1000, backoffMax: 10_000 };

// The account key is made once and kept (0600); the account URL is kept
// beside it, so a restart signs requests with the same account and never
// registers again. The terms of service are accepted here, explicitly, because
// the configuration said so.
export async function openAccount(
  storage: AcmeStorage,
  options: AccountOptions,
  logger: Logger,
): Promise<acme.Client> {
  let accountKey = storage.readAccountKey();
  if (!accountKey) {
    accountKey = await acme.crypto.createPrivateEcdsaKey('P-256');
    storage.writeAccountKey(accountKey);
  }
  const contact = options.email ? [`mailto:${options.email}`] : [];
  const record = storage.readAccount();
  if (record && record.directoryUrl === options.directoryUrl) {
    const client = new acme.Client({
      directoryUrl: options.directoryUrl,
      accountKey,
      accountUrl: record.url,
      ...pollOptions,
    });
    if (record.contact.join(',') !== contact.join(',')) await updateContact(client, contact);
    storage.writeAccount({ ...record, contact });
    return client;
  }

  const client = new acme.Client({
    directoryUrl: options.directoryUrl,
    accountKey,
    ...pollOptions,
    ...(options.externalAccountBinding
      ? { externalAccountBinding: options.externalAccountBinding }
      : {}),
  });
  await withNetworkRetry('GUARD_ERR_ACME_ACCOUNT', () =>
    client.createAccount({ termsOfServiceAgreed: true, contact }),
  );
  const url = client.getAccountUrl();
  storage.writeAccount({ url, directoryUrl: options.directoryUrl, contact });
  logger.info({ account: url }, 'acme account registered');
  return client;
}

async function updateContact(client: acme.Client, contact: string[]): Promise<void> {
  await withNetworkRetry('GUARD_ERR_ACME_ACCOUNT', () => client.updateAccount({ contact }));
}
