// End-to-end test of a sharded deployment's map in Debian's Chromium, run
// by TestShardNoticeInBrowser (dashboard/fleet_browser_test.go) against a
// dashboard whose fleet has one peer, geo-2.localhost.
//
// An operator logs in and sees the peer's device REMOTE_DEVICE at
// REMOTE_LAT on the map, with no notice; the script says so
// ({"step":"fleet-shown"}), the Go test stops the peer, and after a
// reload the header names it as not answering.
//
// Input (environment): GEOHUB_URL, GEOHUB_USER, GEOHUB_PASSWORD,
// REMOTE_DEVICE, REMOTE_LAT, SCREENSHOT, PROFILE_DIR.

import { env, step } from '../../../internal/peers/browser.mjs';
import { logIn, session } from './session.mjs';

await session({ viewport: { width: 1024, height: 700 } }, async (page) => {
  await logIn(page);
  await page.waitForFunction(([jid, lat]) => window.geohub.store.get(jid)?.pos?.lat === lat, [env('REMOTE_DEVICE'), Number(env('REMOTE_LAT'))]);
  if (await page.locator('.shards').isVisible()) throw new Error(`a notice with every instance answering: ${await page.locator('.shards').textContent()}`);
  step('fleet-shown');

  // The peer stops answering: the map says so (at its next reading of the
  // positions; a reload reads them at once).
  const notice = page.locator('.shards', { hasText: 'geo-2.localhost' });
  for (const deadline = Date.now() + 30_000; !(await notice.isVisible()); ) {
    if (Date.now() > deadline) throw new Error('no notice of the missing instance');
    await page.reload();
    await page.locator('.live.ok').waitFor();
    await notice.waitFor({ timeout: 2_000 }).catch(() => {});
  }
  step('notice-shown', { text: await notice.textContent() });
});
