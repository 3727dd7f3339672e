// End-to-end test of Converse.js (the npm package, pinned in
// package-lock.json) in Debian's Chromium against a real `geohub serve`,
// run by TestConverseInChromium (hub/interop_converse_test.go).
//
// The script serves index.html and Converse's dist on 127.0.0.1, opens it
// in Chromium (no request may leave loopback: each one elsewhere is
// refused and fails the run), and Converse logs in over XMPP over
// WebSocket. Then, in order: OMEMO is set up (its bundle and device list
// published), the chat with the hub is opened from the roster and `help`
// answered there, two alerts arrive in that chat, and a chat opened by JID
// with PEER_JID, who is not in the roster, carries a message there and the
// reply back. It takes a screenshot of each chat.
//
// Steps are JSON lines on stdout ({"step": "omemo", ...}); where the
// script must wait for the Go test, it reads a line from stdin naming the
// step done. Every wait is for a condition, with a deadline.
//
// Input (environment): WS_URL, XMPP_JID, XMPP_PASSWORD, HUB_JID, PEER_JID,
// PEER_TEXT (what to send the peer), REPLY_TEXT (the peer's answer),
// SCREENSHOTS (a folder), PROFILE_DIR (a fresh Chromium user-data-dir);
// CONVERSE_LOGLEVEL=debug logs every stanza to stderr.

import { chromium } from 'playwright-core';
import { ack, chromiumOptions, closeAnswers, env, step } from '../../../internal/peers/browser.mjs';
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const hubJID = env('HUB_JID');
const peerJID = env('PEER_JID');

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'node_modules', 'converse.js', 'dist');
const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.wasm': 'application/wasm', '.html': 'text/html', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon',
  '.woff': 'font/woff', '.woff2': 'font/woff2', '.ttf': 'font/ttf', '.mp3': 'audio/mpeg', '.ogg': 'audio/ogg' };

// The page and Converse's dist, on a loopback port the kernel picks.
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const file = url.pathname === '/' ? path.join(here, 'index.html')
    : url.pathname.startsWith('/dist/') ? path.join(dist, path.normalize(url.pathname.slice('/dist/'.length)))
    : null;
  if (!file || !file.startsWith(here)) { res.writeHead(404).end(); return; }
  try {
    const body = await fs.readFile(file);
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] ?? 'application/octet-stream' }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${server.address().port}`;

const loopback = (u) => {
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(u).hostname);
  } catch {
    return false;
  }
};

const context = await chromium.launchPersistentContext(env('PROFILE_DIR'), chromiumOptions());
const problems = [];
// Nothing leaves loopback: HTTP(S) requests and WebSockets elsewhere are
// refused and recorded.
await context.route('**/*', (route) => {
  const u = route.request().url();
  if (loopback(u)) return route.continue();
  problems.push(`request to ${u}`);
  return route.abort('blockedbyclient');
});
await context.routeWebSocket(() => true, (ws) => {
  if (loopback(ws.url())) {
    ws.connectToServer();
    return;
  }
  problems.push(`WebSocket to ${ws.url()}`);
  ws.close();
});
// Converse and the page read these settings when they start.
await context.addInitScript((settings) => { window.geohubConverse = settings; }, {
  websocket_url: env('WS_URL'),
  discover_connection_methods: false,
  jid: env('XMPP_JID'),
  password: env('XMPP_PASSWORD'),
  auto_login: true,
  auto_reconnect: false, // a dropped stream fails the test instead of hiding
  assets_path: '/dist/',
  view_mode: 'fullscreen',
  persistent_store: 'IndexedDB',
  omemo_default: true,
  i18n: 'en',
  play_sounds: false,
  show_desktop_notifications: false,
  render_media: false,
  loglevel: process.env.CONVERSE_LOGLEVEL ?? 'info',
});

const page = context.pages()[0] ?? (await context.newPage());
try {
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    process.stderr.write(`console ${m.type()}: ${m.text()}\n`);
    if (m.type() !== 'error') return;
    problems.push(`console error: ${m.text()}`);
  });
  // evaluate runs fn in the page with a deadline.
  const evaluate = (what, fn, arg, ms = 30_000) => {
    let timer;
    const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms); });
    return Promise.race([page.evaluate(fn, arg), late]).finally(() => clearTimeout(timer));
  };

  await page.goto(base);
  await page.waitForFunction(() => window.geohubAPI?.connection?.connected());
  const { jid, mechanism } = await page.evaluate(() => {
    const c = window.geohubAPI.connection.get();
    return { jid: c.jid, mechanism: c._sasl_mechanism?.mechname };
  });
  await page.locator('converse-roster').waitFor();
  step('logged-in', { jid, mechanism });

  // OMEMO is ready once its bundle is published; the Go test reads the
  // device list and the bundle from the hub.
  const deviceId = await evaluate('OMEMO set up', async () => {
    await window.geohubAPI.waitUntil('OMEMOInitialized');
    return String(await window.geohubAPI.omemo.getDeviceID());
  });
  step('omemo', { deviceId });
  await ack('omemo-checked');

  // chat returns the open chat with j, and send writes text in it.
  const chat = (j) => page.locator(`converse-chat[jid="${j}"]`);
  const send = async (j, text) => {
    const box = chat(j).locator('textarea.chat-textarea'); // once the chat shows
    await box.fill(text);
    await box.press('Enter');
    await chat(j).locator('.chat-msg__content--me .chat-msg__text', { hasText: text }).last().waitFor();
  };
  // received returns the texts of the messages from j in its chat once
  // there are at least n.
  const received = async (j, n) => {
    const texts = chat(j).locator(`.chat-msg[data-from^="${j}"] .chat-msg__text`);
    await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length >= n,
      [`converse-chat[jid="${j}"] .chat-msg[data-from^="${j}"] .chat-msg__text`, n]);
    return texts.allInnerTexts();
  };

  // The hub is a contact, online: its chat opens from the roster.
  const hubContact = page.locator(`converse-roster a.open-chat[data-jid="${hubJID}"]`);
  await hubContact.locator('.contact-name--online').waitFor();
  await hubContact.click();
  await send(hubJID, 'help');
  let texts = await received(hubJID, 1);
  step('help', { texts });

  // Two alerts in a row. Then `fences`: its answer comes after anything
  // the hub had queued, so a third alert would show before it.
  const before = texts.length;
  step('waiting-for-alerts');
  texts = await received(hubJID, before + 2);
  await send(hubJID, 'fences');
  texts = await received(hubJID, before + 3);
  step('alerts', { texts: texts.slice(before) });
  await page.screenshot({ path: path.join(env('SCREENSHOTS'), 'converse-hub.png') });

  // A chat with an operator outside the roster, opened by JID. Converse
  // opens it once it has the blocklist (XEP-0191).
  const blocked = await evaluate('the blocklist', async () => (await window.geohubAPI.blocklist.get()).length);
  await page.locator('converse-roster .dropdown--contacts .dropdown-toggle').click();
  await page.locator('converse-roster .dropdown--contacts a.new-chat').click();
  const modal = page.locator('converse-new-chat-modal');
  await modal.locator('input[name="jid"]').fill(peerJID);
  await modal.locator('button[type="submit"]').click();
  await send(peerJID, env('PEER_TEXT'));
  step('sent-to-peer', { blocked });
  step('reply-shown', { texts: await received(peerJID, 1) });
  await page.screenshot({ path: path.join(env('SCREENSHOTS'), 'converse-peer.png') });

  if (problems.length) throw new Error(problems.join('\n'));
  step('done');
} catch (e) {
  // What the page showed and what went wrong, for the Go test's log.
  await page.screenshot({ path: path.join(env('SCREENSHOTS'), 'converse-failed.png') }).catch(() => {});
  process.stderr.write(`problems:\n${problems.join('\n')}\n`);
  throw e;
} finally {
  closeAnswers();
  await context.close();
  server.close();
}
