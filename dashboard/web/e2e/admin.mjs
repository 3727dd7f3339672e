// End-to-end test of the dashboard's Admin tab in Debian's Chromium, run by
// TestAdminInBrowser (dashboard/browser_test.go) against a real
// `geohub serve --demo 1`.
//
// An admin logs in, lists and filters the accounts, adds the device
// account NEW_DEVICE in group demo and reads its password, shown once; the
// Go test logs that device in over XMPP and publishes a fix, and the admin
// sees it in the device list and on the map. The admin is refused a
// duplicate, edits the groups, makes a new password (the Go test checks
// it), adds and deletes an account with a chosen password, creates an API
// token (the Go test uses it: 200) and revokes it (the Go test: 401).
// Finally an operator logs in and has no Admin tab.
//
// Steps are JSON lines on stdout ({"step": "token-created", ...}); where
// the script must wait for the Go test, it reads a line from stdin naming
// the step done. Every wait is for a condition, with a deadline.
//
// Input (environment): GEOHUB_URL, ADMIN_USER, ADMIN_PASSWORD,
// OPERATOR_USER, OPERATOR_PASSWORD, NEW_DEVICE, DEVICE_LAT, DEVICE_LON,
// SCREENSHOT, PROFILE_DIR (a fresh Chromium user-data-dir).

import { ack, closeAnswers, env, step } from '../../../internal/peers/browser.mjs';
import { session } from './session.mjs';

const base = env('GEOHUB_URL');
const admin = env('ADMIN_USER');
const device = env('NEW_DEVICE');
const fix = { lat: Number(env('DEVICE_LAT')), lon: Number(env('DEVICE_LON')) };

const dialogs = [];
let dismissNext = false;

try {
  await session({ permissions: ['clipboard-read', 'clipboard-write'] }, async (page) => {
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      if (dismissNext) d.dismiss(); else d.accept();
      dismissNext = false;
    });
    const login = async (user, password) => {
      await page.getByLabel('Account name').fill(user);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.locator('.live.ok').waitFor();
    };

    await page.goto(base);
    await login(admin, env('ADMIN_PASSWORD'));
    step('logged-in', { user: admin });

    // The accounts: the admin, the operator, the demo vehicle marked "demo".
    const adminTab = page.getByRole('tab', { name: 'Admin' });
    await adminTab.click();
    const panel = page.getByRole('tabpanel', { name: 'Admin' });
    const accounts = panel.getByRole('table', { name: 'Accounts' });
    const row = (name) => accounts.locator(`tbody tr[data-name="${name}"]`);
    await row('demo-1').locator('.tag', { hasText: 'demo' }).waitFor();
    await row(admin).waitFor();
    // Filters: by role, by group, by text.
    const names = () => accounts.locator('tbody tr[data-name]').evaluateAll((rs) => rs.map((r) => r.dataset.name));
    const shows = async (want, what) => {
      await page.waitForFunction(([want]) => {
        const got = [...document.querySelectorAll('.admin-table tbody tr[data-name]')].map((r) => r.dataset.name);
        return JSON.stringify(got) === JSON.stringify(want);
      }, [want], { timeout: 5_000 }).catch(async () => { throw new Error(`${what}: rows ${JSON.stringify(await names())}, want ${JSON.stringify(want)}`); });
    };
    const filters = panel.locator('.filters');
    await filters.getByLabel('Role').selectOption('operator');
    await shows([env('OPERATOR_USER')], 'role operator');
    await filters.getByLabel('Role').selectOption('');
    await filters.getByLabel('Group').selectOption('demo');
    await filters.getByLabel('Search accounts').fill('demo-');
    await shows(['demo-1'], 'group demo, "demo-"');
    await filters.getByLabel('Search accounts').fill('');
    await filters.getByLabel('Group').selectOption('');
    step('accounts-filtered');

    // Add the device: its generated password is shown once.
    await panel.locator('summary', { hasText: 'Add an account' }).click();
    const addForm = panel.getByRole('form', { name: 'Add an account' });
    await addForm.getByLabel('Name', { exact: true }).fill(device);
    await addForm.getByLabel('Role', { exact: true }).selectOption('device');
    await addForm.getByLabel('Groups', { exact: true }).fill('demo');
    await addForm.getByRole('button', { name: 'Add account' }).click();
    const secret = panel.locator('.secret').first();
    const shown = secret.getByRole('textbox', { name: `Password for ${device}` });
    await shown.waitFor();
    const password = await shown.inputValue();
    if (!/^[A-Z2-7]{20,}$/.test(password)) throw new Error(`shown password ${JSON.stringify(password)}`);
    if (!(await secret.getByText('It is not shown again').isVisible())) throw new Error('no "not shown again"');
    if (!(await shown.evaluate((el) => el === document.activeElement))) throw new Error('the password does not have the focus');
    await secret.getByRole('button', { name: 'Copy' }).click();
    await secret.getByRole('status').filter({ hasText: 'Copied.' }).waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    if (copied !== password) throw new Error(`copied ${JSON.stringify(copied)}, shown ${JSON.stringify(password)}`);
    await row(device).filter({ hasText: 'demo' }).waitFor();
    step('account-added', { name: device, password });

    // Done: the password is gone from the page.
    await secret.getByRole('button', { name: 'Done' }).click();
    await secret.waitFor({ state: 'hidden' });
    if (await page.evaluate((pw) => document.body.innerHTML.includes(pw) || [...document.querySelectorAll('input')].some((i) => i.value === pw), password)) {
      throw new Error('the password is still in the page after Done');
    }

    // The Go test logs the device in and publishes a fix: the admin sees it
    // in the device list and on the map.
    await page.getByRole('tab', { name: 'Devices' }).click();
    await page.locator(`.device-item[data-name="${device}"] .dot.online`).waitFor();
    const seen = await page.waitForFunction(([name, fix]) => {
      const g = window.geohub;
      const d = g.store.get(name);
      if (!d?.pos || Math.abs(d.pos.lat - fix.lat) > 1e-6 || Math.abs(d.pos.lon - fix.lon) > 1e-6) return null;
      return { pos: d.pos, online: d.online };
    }, [device, fix]).then((h) => h.jsonValue());
    await page.locator(`.device-item[data-name="${device}"]`).click();
    const drawn = await page.waitForFunction((name) => {
      const g = window.geohub;
      const d = g.store.get(name);
      return d && g.layer.pointOf(d.jid);
    }, device).then((h) => h.jsonValue());
    step('device-shown', { ...seen, drawn });

    // A duplicate is refused, the API's message beside the form.
    await adminTab.click();
    await addForm.getByLabel('Name', { exact: true }).fill(device);
    await addForm.getByRole('button', { name: 'Add account' }).click();
    const addError = addForm.getByRole('alert');
    await addError.filter({ hasText: /Not added: .*exists/ }).waitFor();
    step('duplicate-refused', { text: await addError.textContent() });
    await addForm.getByLabel('Name', { exact: true }).fill('');

    // Edit the groups (Escape would cancel; Save keeps).
    await row(device).getByRole('button', { name: `Edit ${device}` }).click();
    const editForm = panel.getByRole('form', { name: `Edit ${device}` });
    await editForm.getByLabel('Groups').fill('demo, north');
    await editForm.getByRole('button', { name: 'Save' }).click();
    await editForm.waitFor({ state: 'detached' });
    await row(device).getByRole('cell', { name: 'demo, north', exact: true }).waitFor();
    step('account-edited');

    // A new password, after a confirmation; shown once again.
    await row(device).getByRole('button', { name: `New password for ${device}` }).click();
    const reset = secret.getByRole('textbox', { name: `New password for ${device}` });
    await reset.waitFor();
    const newPassword = await reset.inputValue();
    if (newPassword === password || !/^[A-Z2-7]{20,}$/.test(newPassword)) throw new Error(`new password ${JSON.stringify(newPassword)}`);
    step('password-reset', { name: device, password: newPassword, confirm: dialogs.at(-1) });
    await ack('password-checked');
    await secret.getByRole('button', { name: 'Done' }).click();

    // An operator with a chosen password: no password shown. Then deleted,
    // after a confirmation (the first one is cancelled).
    await addForm.getByLabel('Name', { exact: true }).fill('spare');
    await addForm.getByLabel('Role', { exact: true }).selectOption('operator');
    await addForm.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await addForm.getByRole('button', { name: 'Add account' }).click();
    await row('spare').filter({ hasText: 'operator' }).waitFor();
    if (await secret.isVisible()) throw new Error('a chosen password was shown');
    dismissNext = true;
    const asked = page.waitForEvent('dialog');
    await row('spare').getByRole('button', { name: 'Delete spare' }).click();
    await asked;
    if (await page.evaluate(() => fetch('/api/devices/spare').then((r) => r.status)) !== 200) throw new Error('deleted though the confirmation was cancelled');
    await row('spare').getByRole('button', { name: 'Delete spare' }).click();
    await row('spare').waitFor({ state: 'detached' });
    if (await row(admin).getByRole('button', { name: `Delete ${admin}` }).isEnabled()) throw new Error('the admin may delete their own account');
    step('account-deleted', { confirm: dialogs.at(-1) });

    // An API token for the admin: the secret is shown once; the Go test uses it.
    const tokenForm = panel.getByRole('form', { name: 'Create a token' });
    await tokenForm.getByLabel('Token name').fill('ci');
    await tokenForm.getByLabel('Acts as').selectOption(admin);
    await tokenForm.getByRole('button', { name: 'Create token' }).click();
    const tokenSecret = panel.locator('.secret').nth(1);
    const tokenShown = tokenSecret.getByRole('textbox', { name: `Token ci of ${admin}` });
    await tokenShown.waitFor();
    const token = await tokenShown.inputValue();
    const tokens = panel.getByRole('table', { name: 'API tokens' });
    const tokenRow = tokens.locator('tbody tr', { has: page.getByRole('rowheader', { name: 'ci', exact: true }) });
    await tokenRow.getByRole('cell', { name: 'never', exact: true }).waitFor();
    await page.screenshot({ path: env('SCREENSHOT') }); // with the secret shown once
    step('token-created', { token });
    await ack('token-checked');
    await tokenSecret.getByRole('button', { name: 'Done' }).click();
    // Reopening the tab reloads the list: the token has been used.
    await page.getByRole('tab', { name: 'Fences' }).click();
    await adminTab.click();
    await tokenRow.getByRole('cell', { name: /^(just now|\d+ s ago)$/ }).waitFor();

    // Revoke it, after a confirmation.
    await tokenRow.getByRole('button', { name: `Revoke ci of ${admin}` }).click();
    await tokenRow.waitFor({ state: 'detached' });
    step('token-revoked', { confirm: dialogs.at(-1) });

    // An operator has no Admin tab.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Account name').waitFor();
    await login(env('OPERATOR_USER'), env('OPERATOR_PASSWORD'));
    const tabs = await page.getByRole('tab').allTextContents();
    if (tabs.some((t) => /Admin/.test(t)) || !tabs.some((t) => /Devices/.test(t))) throw new Error(`the operator's tabs: ${tabs}`);
    if (await page.locator('.admin').count()) throw new Error('the operator has the admin panel');
    step('operator-no-admin', { tabs });
  }, {
    shotAtEnd: false, // the one with the secret shown, taken above
    allow: /status of (401|409)/, // 401 after logging out, 409 for the duplicate this test adds on purpose
    explain: async (page) => `page text: ${await page.evaluate(() => document.body.innerText.slice(0, 3000))}`,
  });
} finally {
  closeAnswers();
}
