// End-to-end test of the Reports view in Debian's Chromium, run by
// TestReportsInBrowser (dashboard/reports_browser_test.go) against a real
// `geohub serve` holding a drive of DEVICE: 5 minutes standing, 3.3 km
// north, 5 minutes standing.
//
// An operator logs in, opens Reports, ticks the device, sets the range and
// runs the report: the trip shows in the table (and on the map), the
// totals too. The Trips CSV link downloads the file, whose text goes to
// the Go test. Then a circle drawn around where the drive ended (WHO_LAT,
// WHO_LON) lists the device as having been there.
//
// Input (environment): GEOHUB_URL, GEOHUB_USER, GEOHUB_PASSWORD, DEVICE,
// FROM, TO (datetime-local values in the browser's zone, TZ), WHO_LAT,
// WHO_LON, SCREENSHOT, PROFILE_DIR.

import { readFile } from 'node:fs/promises';
import { env, step } from '../../../internal/peers/browser.mjs';
import { logIn, session } from './session.mjs';

const device = env('DEVICE');

await session({ acceptDownloads: true }, async (page) => {
  await logIn(page);
  step('logged-in');

  await page.getByRole('tab', { name: 'Reports' }).click();
  await page.getByRole('checkbox', { name: device }).check();
  await page.locator('#report-from').fill(env('FROM'));
  await page.locator('#report-to').fill(env('TO'));
  await page.getByRole('button', { name: 'Run report' }).click();
  const trip = page.locator('.report-trips tbody tr');
  await trip.first().waitFor();
  const cells = await trip.first().locator('th, td').allTextContents();
  const totals = await page.locator('.report-totals tbody tr').first().locator('th, td').allTextContents();
  if ((await trip.count()) !== 1 || cells[0] !== device || cells[3] !== '3.3 km' || cells[4] !== '5 min') throw new Error(`trip row: ${cells}`);
  if (totals[0] !== device || totals[1] !== '1' || totals[4] !== '2' || totals[5] !== '10 min') throw new Error(`totals: ${totals}`);
  // On the map: the trip's line and the two stops.
  await page.waitForFunction(() => window.geohub.reports.layer.getLayers().length === 3);
  step('report-shown', { trip: cells, totals });

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Trips CSV' }).click()]);
  const csv = await readFile(await download.path(), 'utf8');
  step('csv-downloaded', { filename: download.suggestedFilename(), csv });

  await page.getByLabel('Radius (m)').fill('60');
  await page.getByRole('button', { name: 'Draw area on the map' }).click();
  const at = await page.evaluate(([lat, lon]) => {
    const { map } = window.geohub;
    map.setView([lat, lon], 16, { animate: false });
    const p = map.latLngToContainerPoint([lat, lon]);
    return { x: p.x, y: p.y };
  }, [Number(env('WHO_LAT')), Number(env('WHO_LON'))]);
  await page.locator('#map').click({ position: at });
  await page.locator('.who-list li').first().waitFor();
  const who = await page.locator('.who-list li').allTextContents();
  if (who.length !== 1 || !who[0].startsWith(`${device}, first at`)) throw new Error(`who: ${who}`);
  step('who-listed', { who });
});
