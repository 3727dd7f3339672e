// session.mjs: what the dashboard's end-to-end scripts share: Chromium on
// a fresh profile (PROFILE_DIR), the page's errors collected, the login
// (GEOHUB_URL, GEOHUB_USER, GEOHUB_PASSWORD) and the screenshot
// (SCREENSHOT, or its -failed.png twin when the script fails).

import { chromium } from 'playwright-core';
import { chromiumOptions, env, step } from '../../../internal/peers/browser.mjs';

// session runs body(page) in a new browser with launch's options added;
// a page error or console error fails it after body is done.
export async function session(launch, body) {
  const context = await chromium.launchPersistentContext(env('PROFILE_DIR'), chromiumOptions(launch));
  const problems = [];
  const page = context.pages()[0] ?? (await context.newPage());
  try {
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(`console error: ${m.text()}`); });
    await body(page);
    await page.screenshot({ path: env('SCREENSHOT') });
    if (problems.length) throw new Error(problems.join('\n'));
    step('done');
  } catch (err) {
    await page.screenshot({ path: env('SCREENSHOT').replace(/\.png$/, '-failed.png') }).catch(() => {});
    if (problems.length) console.error(problems.join('\n'));
    throw err;
  } finally {
    await context.close();
  }
}

// logIn opens the dashboard and logs in; it returns once the live stream
// is up.
export async function logIn(page) {
  await page.goto(env('GEOHUB_URL'));
  await page.getByLabel('Account name').fill(env('GEOHUB_USER'));
  await page.getByLabel('Password').fill(env('GEOHUB_PASSWORD'));
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('.live.ok').waitFor();
}
