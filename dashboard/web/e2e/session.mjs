// session.mjs: what the dashboard's end-to-end scripts share: Chromium on
// a fresh profile (PROFILE_DIR), the page's errors and stray requests
// collected, the login (GEOHUB_URL, GEOHUB_USER, GEOHUB_PASSWORD) and the
// screenshot (SCREENSHOT, or its -failed.png twin when the script fails).

import { chromium } from 'playwright-core';
import { chromiumOptions, env, step } from '../../../internal/peers/browser.mjs';

// session runs body(page, problem) in a new browser with launch's options
// added. A page error, a console error (but those allow matches), a request
// to anywhere but the hub and origins, or a problem body reports fails it
// once body is done. The page at the end is the screenshot, unless body
// took it (shotAtEnd false); a failed page is its -failed.png twin, and
// explain(page), when given, says what else it knew.
export async function session(launch, body, { allow = /status of 401/, origins = [], explain, shotAtEnd = true } = {}) {
  const context = await chromium.launchPersistentContext(env('PROFILE_DIR'), chromiumOptions(launch));
  const problems = [];
  const page = context.pages()[0] ?? (await context.newPage());
  const allowed = [env('GEOHUB_URL'), ...origins, 'data:', 'blob:'];
  try {
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !allow.test(m.text())) problems.push(`console error: ${m.text()}`); });
    page.on('request', (r) => { if (!allowed.some((o) => r.url().startsWith(o))) problems.push(`request to ${r.url()}`); });
    await body(page, (p) => problems.push(p));
    if (shotAtEnd) await page.screenshot({ path: env('SCREENSHOT') });
    if (problems.length) throw new Error(problems.join('\n'));
    step('done');
  } catch (err) {
    await page.screenshot({ path: env('SCREENSHOT').replace(/\.png$/, '-failed.png') }).catch(() => {});
    if (explain) console.error(await explain(page).catch((e) => `no state: ${e.message}`));
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
