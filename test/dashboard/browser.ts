import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DEFAULT_UI_DIR } from '../../src/admin/static-files.js';

/** Debian's chromium (`.ci/run` installs it); TIDEGATE_CHROMIUM points elsewhere. */
export const CHROMIUM = process.env.TIDEGATE_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null when they can. */
export function browserSkipReason(): string | null {
  if (!existsSync(CHROMIUM)) {
    return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set TIDEGATE_CHROMIUM): `
      + 'dashboard browser tests skipped';
  }
  if (!existsSync(join(DEFAULT_UI_DIR, 'index.html'))) {
    return `the dashboard is not built (${DEFAULT_UI_DIR}; npm run build makes it): dashboard browser tests skipped`;
  }
  return null;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
}

/** Where each view's screenshot goes (a temp folder, never the repository). */
export const SHOTS = join(tmpdir(), 'tidegate-dashboard-shots');

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Opens the dashboard and signs in with `token`; resolves when the Overview shows the runtime facts. */
export async function signIn(browser: Browser, base: string, token: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${base}/ui/`);
  await page.fill('[data-testid="login"] input[name="token"]', token);
  await page.click('[data-testid="login"] button[type="submit"]');
  await page.waitForSelector('[data-testid="runtime-facts"]');
  return page;
}
