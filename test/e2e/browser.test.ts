import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { buildCsp } from '../../policies/csp.ts';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';

// One page load in headless Chromium, through the guard, against the OComms
// double: the guard's CSP must let the app's scripts run and its socket reach
// a websocket, with no violation reported by the page itself.

const CHROMIUM_PATH = '/usr/bin/chromium';
const WAIT_MS = 15_000;

// What the page's own scripts leave on window (see test/double/page-assets.ts).
type PageProbe = {
  __inlineRan?: boolean;
  __externalRan?: boolean;
  __socketConnected?: boolean;
  __socketTransport?: string;
  __socketError?: string;
  __cspViolations?: unknown[];
};

let double: OcommsDouble | undefined;
let guard: TestGuard | undefined;
let context: BrowserContext | undefined;
let profileDir: string | undefined;

afterEach(async () => {
  await context?.close();
  await guard?.close();
  await double?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  context = undefined;
  guard = undefined;
  double = undefined;
  profileDir = undefined;
});

/**
 * base64(SHA-256(SubjectPublicKeyInfo)) of the certificate the guard serves.
 * Chromium accepts exactly this key despite the unknown CA; every other
 * certificate error is still an error.
 */
function pinFor(target: TestGuard): string {
  const pem = readFileSync(join(target.dataDir, 'internal-ca', 'leaf.crt'));
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

async function openBrowser(target: TestGuard): Promise<Page> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM_PATH}; run test/setup-machine.sh ` +
        '(it installs Debian\'s "chromium" package, as CI does)',
    );
  }
  profileDir = mkdtempSync(join(tmpdir(), 'guard-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--ignore-certificate-errors-spki-list=${pinFor(target)}`,
    ],
  });
  return context.pages()[0] ?? (await context.newPage());
}

async function startStack(overrides: Record<string, unknown> = {}) {
  double = await startOcommsDouble();
  guard = await startTestGuard(double.url, overrides);
  return { double, guard };
}

function readProbe(page: Page): Promise<PageProbe> {
  return page.evaluate(() => {
    const probe = globalThis as unknown as PageProbe;
    return {
      __inlineRan: probe.__inlineRan,
      __externalRan: probe.__externalRan,
      __socketConnected: probe.__socketConnected,
      __socketTransport: probe.__socketTransport,
      __socketError: probe.__socketError,
      __cspViolations: probe.__cspViolations,
    };
  });
}

/** Loads / and waits until the page's socket has upgraded to a websocket. */
async function loadHome(page: Page, target: TestGuard) {
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const response = await page.goto(`${target.url}/`, { waitUntil: 'load' });
  if (response === null) throw new Error('no response for /');

  const upgraded = await page
    .waitForFunction(
      () => {
        const probe = globalThis as unknown as PageProbe;
        return probe.__socketConnected === true && probe.__socketTransport === 'websocket';
      },
      undefined,
      { timeout: WAIT_MS },
    )
    .then(
      () => true,
      () => false,
    );
  const probe = await readProbe(page);
  // A bare timeout says nothing; what the page saw says where it stopped.
  if (!upgraded) {
    const seen = JSON.stringify({
      probe,
      pageErrors,
      csp: response.headers()['content-security-policy'],
    });
    throw new Error(`the page's socket did not reach a websocket within ${WAIT_MS} ms: ${seen}`);
  }
  return { response, probe, pageErrors };
}

describe('chromium through the guard', () => {
  it('runs the page and upgrades its socket under the default CSP', async () => {
    const stack = await startStack();
    const page = await openBrowser(stack.guard);

    const { response, probe, pageErrors } = await loadHome(page, stack.guard);

    expect(response.status()).toBe(200);
    const expectedCsp = buildCsp(undefined)?.template;
    expect(response.headers()['content-security-policy']).toBe(expectedCsp);
    expect(probe).toMatchObject({
      __inlineRan: true,
      __externalRan: true,
      __socketConnected: true,
      __socketTransport: 'websocket',
      __cspViolations: [],
    });
    expect(probe.__socketError).toBeUndefined();
    expect(pageErrors).toEqual([]);
  });

  it('hands the app a nonce its scripts carry, and they still run', async () => {
    const stack = await startStack({ headers: { contentSecurityPolicy: { nonce: true } } });
    const page = await openBrowser(stack.guard);

    const { response, probe, pageErrors } = await loadHome(page, stack.guard);

    const csp = response.headers()['content-security-policy'] ?? '';
    const nonce = /'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
    expect(nonce).toBeDefined();
    expect(csp).toContain("'strict-dynamic'");
    // Chromium hides the nonce attribute from the DOM; the property keeps it.
    const scriptNonces = await page
      .locator('script')
      .evaluateAll((scripts) => scripts.map((script) => (script as { nonce?: string }).nonce));
    expect(scriptNonces).toHaveLength(4);
    expect(scriptNonces).toEqual(scriptNonces.map(() => nonce));
    expect(probe).toMatchObject({
      __inlineRan: true,
      __externalRan: true,
      __socketConnected: true,
      __socketTransport: 'websocket',
      __cspViolations: [],
    });
    expect(pageErrors).toEqual([]);
  });
});
