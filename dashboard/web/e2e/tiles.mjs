// End-to-end test of the dashboard's street map in Debian's Chromium, run
// by TestMapTilesInBrowser (dashboard/tiles_browser_test.go) against a real
// `geohub serve --map-tiles <a tile server on loopback>`.
//
// An operator logs in; with TILES=ok the street tiles load over the
// offline world map and their attribution shows; with TILES=failing the
// offline map stays and one notice says the tiles could not load, however
// many tiles fail. The page asks nothing of anyone but the hub and the tile
// server.
//
// Input (environment): GEOHUB_URL, TILE_ORIGIN, TILES (ok or failing),
// GEOHUB_USER, GEOHUB_PASSWORD, SCREENSHOT, PROFILE_DIR.

import { chromium } from 'playwright-core';
import { chromiumOptions, env, step } from '../../../internal/peers/browser.mjs';

const base = env('GEOHUB_URL');
const tileOrigin = env('TILE_ORIGIN');
const mode = env('TILES');

const context = await chromium.launchPersistentContext(env('PROFILE_DIR'), chromiumOptions({ viewport: { width: 1024, height: 700 } }));
const problems = [];
const page = context.pages()[0] ?? (await context.newPage());
try {
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // Failing tiles log their 404s; nothing else may.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 401/.test(m.text()) && !(mode === 'failing' && /status of 404/.test(m.text()))) {
      problems.push(`console error: ${m.text()}`);
    }
  });
  let tileRequests = 0;
  page.on('request', (r) => {
    const u = r.url();
    if (u.startsWith(tileOrigin)) tileRequests++;
    if (!u.startsWith(base) && !u.startsWith(tileOrigin) && !u.startsWith('data:') && !u.startsWith('blob:')) problems.push(`request to ${u}`);
  });

  await page.goto(base);
  await page.getByLabel('Account name').fill(env('GEOHUB_USER'));
  await page.getByLabel('Password').fill(env('GEOHUB_PASSWORD'));
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('.live.ok').waitFor();
  step('logged-in');

  if (mode === 'ok') {
    await page.locator('img.leaflet-tile-loaded').first().waitFor();
    const attribution = await page.locator('.leaflet-control-attribution').textContent();
    if (!attribution.includes('© Loopback tiles')) throw new Error(`attribution: ${attribution}`);
    if (await page.locator('.tile-note').count()) throw new Error('the failure notice shows while tiles load');
    step('tiles-loaded', { tiles: await page.locator('img.leaflet-tile-loaded').count(), attribution });
  } else {
    const note = page.locator('.tile-note');
    await note.waitFor();
    // More tiles fail as the map zooms; the notice stays one.
    const before = tileRequests;
    await page.locator('.leaflet-control-zoom-in').click();
    for (const deadline = Date.now() + 30_000; tileRequests <= before; await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > deadline) throw new Error('no tile was asked for after zooming in');
    }
    await page.waitForFunction(() => document.querySelectorAll('img.leaflet-tile-loaded').length === 0);
    const notes = await page.locator('.tile-note').count();
    const text = await note.textContent();
    if (notes !== 1 || !text.includes('could not load') || !text.includes(new URL(tileOrigin).host)) throw new Error(`notice ×${notes}: ${text}`);
    step('tiles-failed', { notes, text });
  }
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
