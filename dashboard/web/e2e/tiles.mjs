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

import { env, step } from '../../../internal/peers/browser.mjs';
import { logIn, session } from './session.mjs';

const tileOrigin = env('TILE_ORIGIN');
const mode = env('TILES');

// Failing tiles log their 404s; nothing else may.
const allow = mode === 'failing' ? /status of (401|404)/ : /status of 401/;
await session({ viewport: { width: 1024, height: 700 } }, async (page) => {
  let tileRequests = 0;
  page.on('request', (r) => { if (r.url().startsWith(tileOrigin)) tileRequests++; });
  await logIn(page);
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
}, { allow, origins: [tileOrigin] });
