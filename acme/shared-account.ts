import type { Logger } from '../common/log.ts';
import type { AcmeStorage } from './acme-storage.ts';
import type { SharedAccount, SharedAcmeStore } from './shared-store.ts';

// Instances that share Redis share one ACME account per directory: the
// first one registered is copied into every data directory before the
// account is opened, so a second instance never registers one of its own.
// While Redis is away, the local account serves.
export async function adoptSharedAccount(
  shared: SharedAcmeStore,
  storage: AcmeStorage,
  directoryUrl: string,
): Promise<void> {
  let account: SharedAccount | undefined;
  try {
    account = await shared.readAccount();
  } catch {
    return;
  }
  if (account && account.directoryUrl === directoryUrl) writeLocal(storage, account);
}

/**
 * Offers the local account to the other instances. Answers true when another
 * one was in force already and was copied here instead (open it again).
 */
export async function offerSharedAccount(
  shared: SharedAcmeStore,
  storage: AcmeStorage,
  logger: Logger,
): Promise<boolean> {
  const key = storage.readAccountKey();
  const record = storage.readAccount();
  if (!key || !record) return false;
  try {
    const inForce = await shared.offerAccount({ ...record, key: key.toString() });
    if (inForce.url === record.url || inForce.directoryUrl !== record.directoryUrl) return false;
    writeLocal(storage, inForce);
    logger.info({ account: inForce.url }, 'acme account taken from shared store');
    return true;
  } catch {
    return false;
  }
}

function writeLocal(storage: AcmeStorage, account: SharedAccount): void {
  if (storage.readAccountKey()?.toString() !== account.key) {
    storage.writeAccountKey(Buffer.from(account.key));
  }
  const { url, directoryUrl, contact } = account;
  if (storage.readAccount()?.url !== url) storage.writeAccount({ url, directoryUrl, contact });
}
