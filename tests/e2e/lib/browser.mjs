/*
 * browser.mjs -- Debian's chromium driven by playwright-core.  Owns the
 * prerequisites check (a clear failure when /usr/bin/chromium or
 * tests/e2e/node_modules is missing: scripts/deps installs both), one
 * browser per user (launchPersistentContext on a fresh --user-data-dir,
 * so two users never share cookies), the screenshots written to
 * build/e2e-artifacts/, and bounded waits with a readable failure.  It
 * never downloads a browser.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SOURCE_DIR } from './host.mjs';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const ARTIFACTS = process.env.CHANHOST_E2E_ARTIFACTS || join(SOURCE_DIR, 'build', 'e2e-artifacts');
export const WAIT_MS = 15000;

async function playwright() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`e2e: ${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; scripts/deps does)`);
  }
  try {
    return await import('playwright-core');
  } catch {
    throw new Error('e2e: tests/e2e/node_modules is missing: run npm ci --prefix tests/e2e (scripts/deps does)');
  }
}

/* One user's browser: {name, context, page, errors, close()}.
 * errors collects uncaught page errors (tests assert there are none). */
export async function launch(name, { viewport = { width: 1200, height: 800 }, permissions = [], origin } = {}) {
  const { chromium } = await playwright();
  const dir = mkdtempSync(join(tmpdir(), `chanhost-e2e-${name}-`));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: false, args: ARGS, viewport,
  });
  context.setDefaultTimeout(WAIT_MS);
  if (permissions.length) await context.grantPermissions(permissions, { origin });
  const page = context.pages()[0] ?? await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(`${name}: ${err.message}`));
  return {
    name,
    context,
    page,
    errors,
    async close() {
      await context.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/* page.waitForFunction with a bound and a failure that says what. */
export async function until(page, what, fn, arg, timeout = WAIT_MS) {
  try {
    return await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  } catch (err) {
    throw new Error(`timed out after ${timeout} ms waiting for ${what} (${err.message.split('\n')[0]})`);
  }
}

/* A Notification recorder, installed before the page's scripts run. */
export async function recordNotifications(context) {
  await context.addInitScript(() => {
    const Real = window.Notification;
    window.__notifications = [];
    if (!Real) return;
    class Recorded extends Real {
      constructor(title, options) {
        super(title, options);
        window.__notifications.push({ title, body: options?.body ?? '' });
      }
    }
    Object.defineProperty(Recorded, 'permission', { get: () => Real.permission });
    Recorded.requestPermission = (...a) => Real.requestPermission(...a);
    window.Notification = Recorded;
  });
}

/* The user switches to another tab of their browser (focused false) or
 * back to the chat (true), so the chat page really loses or regains the
 * focus.  Playwright emulates focus for every page; that is turned off
 * first for this page (in a CDP session kept open: the emulation
 * setting ends with its session). */
export async function setFocused(user, focused) {
  if (!user.cdp) {
    user.cdp = await user.context.newCDPSession(user.page);
    await user.cdp.send('Emulation.setFocusEmulationEnabled', { enabled: false });
  }
  if (focused) {
    await user.page.bringToFront();
    return;
  }
  user.otherTab ??= await user.context.newPage();
  await user.otherTab.bringToFront();
  await user.otherTab.locator('body').click();
}
