// End-to-end test of the dashboard in Debian's Chromium, run by
// dashboard/browser_test.go against a real `geohub serve --demo 1` with an
// MQTT bridge.
//
// It logs in as an operator, sees the bridge's state in the header, watches the demo vehicle move on the map,
// draws a circle fence with the drawing tool beside the device "probe",
// fills the rule form and saves it, then tells the Go test (a JSON line on
// stdout: {"step":"fence-saved"}) to move the probe into the fence, waits
// for the enter alert in the feed, saves a screenshot and acknowledges the
// alert. Every wait is for a condition in the page, with a deadline.
//
// Input (environment): GEOHUB_URL, GEOHUB_USER, GEOHUB_PASSWORD, DEMO_DEVICE,
// PROBE_DEVICE, TARGET_LAT, TARGET_LON, FENCE_RADIUS (metres), SCREENSHOT,
// PROFILE_DIR (a fresh Chromium user-data-dir).

import { env, step } from '../../../internal/peers/browser.mjs';
import { logIn, session } from './session.mjs';

const demo = env('DEMO_DEVICE');
const probe = env('PROBE_DEVICE');
const target = { lat: Number(env('TARGET_LAT')), lon: Number(env('TARGET_LON')) };
const radius = Number(env('FENCE_RADIUS'));

// What the page looked like and knew, for whoever reads a failure.
async function explain(page) {
  return page.evaluate(([a, b]) => {
    const g = window.geohub;
    if (!g) return { body: document.body.innerText.slice(0, 2000) };
    const show = (n) => { const d = g.store.get(n); return d && { ...d, drawnAt: g.layer.pointOf(d.jid) }; };
    return { devices: g.store.size, [a]: show(a), [b]: show(b), view: [g.map.getCenter(), g.map.getZoom()] };
  }, [demo, probe]);
}

await session({ viewport: { width: 1280, height: 800 } }, async (page) => {
  await logIn(page);
  step('logged-in');
  // The hub runs with an MQTT bridge: the header says it is connected.
  await page.locator('.bridge.ok', { hasText: /^MQTT connected · in \d+ · out \d+/ }).waitFor();
  step('bridge-shown', { text: await page.locator('.bridge').textContent() });

  // The demo vehicle: centre on it from the list, then see its arrow,
  // drawn in the online colour, move on the map.
  // (A vehicle that has just logged in has no position until its first fix.)
  await page.waitForFunction((name) => window.geohub.store.get(name)?.pos, demo);
  await page.locator(`.device-item[data-name="${demo}"]`).click();
  // Its arrow must move while the map stands still: the first sighting is
  // taken again whenever the view changes (the centring pan, say).
  const moved = await page.waitForFunction((name) => {
    const g = window.geohub;
    const d = g.store.get(name);
    const pt = d && d.pos && g.layer.pointOf(d.jid);
    if (!pt) return null;
    // Only a frame drawn for the current view and position counts.
    const at = g.map.latLngToContainerPoint([d.pos.lat, d.pos.lon]);
    if (Math.hypot(at.x - pt.x, at.y - pt.y) > 1) return null;
    const c = g.map.getCenter();
    const view = `${c.lat} ${c.lng} ${g.map.getZoom()}`;
    const seen = window.e2eSeen;
    if (!seen || seen.view !== view) {
      window.e2eSeen = { view, lat: d.pos.lat, lon: d.pos.lon, x: pt.x, y: pt.y };
      return null;
    }
    if ((d.pos.lat === seen.lat && d.pos.lon === seen.lon) || Math.hypot(pt.x - seen.x, pt.y - seen.y) < 1) return null;
    // And the canvas shows it there, in the online green.
    const canvas = document.querySelector('.device-canvas');
    const dpr = window.devicePixelRatio || 1;
    const [r, gr, b, a] = canvas.getContext('2d').getImageData(Math.round(pt.x * dpr), Math.round(pt.y * dpr), 1, 1).data;
    if (!(a > 200 && gr > r + 40 && gr > b + 40)) return null;
    return { from: seen, to: { lat: d.pos.lat, lon: d.pos.lon, x: pt.x, y: pt.y } };
  }, demo, { timeout: 30_000 }).then((h) => h.jsonValue());
  step('demo-moved', moved);

  // Centre on the probe, then draw a circle beside it with the drawing tool.
  await page.locator(`.device-item[data-name="${probe}"]`).click();
  await page.waitForFunction((name) => {
    const g = window.geohub;
    const d = g.store.get(name);
    return d && d.pos && g.layer.pointOf(d.jid);
  }, probe);
  await page.getByRole('tab', { name: 'Fences' }).click();
  await page.locator('.draw-tools').getByRole('button', { name: 'Circle' }).click();
  const box = await page.locator('#map').boundingBox();
  const px = await page.evaluate(([t, r]) => {
    const map = window.geohub.map;
    const c = map.latLngToContainerPoint([t.lat, t.lon]);
    const e = map.latLngToContainerPoint([t.lat, t.lon + r / (111320 * Math.cos((t.lat * Math.PI) / 180))]);
    return { cx: c.x, cy: c.y, ex: e.x, ey: e.y };
  }, [target, radius]);
  await page.mouse.click(box.x + px.cx, box.y + px.cy);
  await page.mouse.move(box.x + px.ex, box.y + px.ey, { steps: 5 });
  await page.mouse.click(box.x + px.ex, box.y + px.ey);

  // The rule: watch the probe, raise enter only, tell the operator.
  await page.locator('.fence-form').waitFor();
  await page.getByRole('textbox', { name: 'Name', exact: true }).fill('Probe zone');
  await page.getByRole('textbox', { name: 'Devices', exact: true }).fill(probe);
  await page.getByRole('checkbox', { name: 'enter', exact: true }).check();
  await page.getByRole('checkbox', { name: 'exit', exact: true }).uncheck();
  await page.getByRole('textbox', { name: 'Notify', exact: true }).fill(env('GEOHUB_USER'));
  const drawn = Number(await page.getByRole('spinbutton', { name: 'Radius (metres)' }).inputValue());
  if (!(Math.abs(drawn - radius) < radius * 0.2)) throw new Error(`drew a circle of ${drawn} m, meant ${radius} m`);
  await page.getByRole('button', { name: 'Save fence' }).click();
  await page.locator('.fence-item', { hasText: 'Probe zone' }).waitFor();
  step('fence-saved', { radius: drawn });

  // The Go test now moves the probe into the fence.
  await page.getByRole('tab', { name: /Alerts/ }).click();
  const alert = page.locator('.alert[data-event="enter"]', { hasText: `${probe} entered Probe zone` });
  await alert.waitFor({ timeout: 30_000 });
  step('alert-shown', { text: await alert.locator('.alert-text').innerText() });
  await page.screenshot({ path: env('SCREENSHOT') });

  await alert.getByRole('button', { name: 'Acknowledge' }).click();
  await page.locator('.alert.acked', { hasText: `Acknowledged by ${env('GEOHUB_USER')}` }).waitFor();
  step('alert-acked');

  // The Go test added a fence with the CLI meanwhile: it is listed and drawn.
  await page.getByRole('tab', { name: 'Fences' }).click();
  await page.locator('.fence-item', { hasText: 'CLI zone' }).waitFor({ timeout: 10_000 });
  step('remote-fence-shown');
}, { shotAtEnd: false, explain: async (page) => `page state: ${JSON.stringify(await explain(page), null, 1)}` });
