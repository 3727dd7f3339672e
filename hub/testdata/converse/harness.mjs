// harness.mjs: Converse.js (the npm package, pinned in package-lock.json)
// in Debian's Chromium, for the scripts of the Converse tests
// (converse.mjs, converse_mam.mjs). It serves index.html and Converse's
// dist on 127.0.0.1 and opens them in Chromium, where no request may leave
// loopback: each one elsewhere is refused and recorded in problems, which
// fail the run. Converse logs in over XMPP over WebSocket with the
// settings given.
//
// Input (environment): WS_URL, XMPP_JID, XMPP_PASSWORD, PROFILE_DIR (a
// fresh Chromium user-data-dir); CONVERSE_LOGLEVEL=debug logs every
// stanza to stderr.

import { chromium } from 'playwright-core';
import { chromiumOptions, env } from '../../../internal/peers/browser.mjs';
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'node_modules', 'converse.js', 'dist');
const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.wasm': 'application/wasm', '.html': 'text/html', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon',
  '.woff': 'font/woff', '.woff2': 'font/woff2', '.ttf': 'font/ttf', '.mp3': 'audio/mpeg', '.ogg': 'audio/ogg' };

const loopback = (u) => {
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(u).hostname);
  } catch {
    return false;
  }
};

// openConverse starts the page server and Chromium and loads Converse with
// extra settings over the harness's own. It returns the page, the
// problems seen so far (a list that keeps growing), evaluate (fn in the
// page with a deadline) and close.
export async function openConverse(extra = {}) {
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
    i18n: 'en',
    play_sounds: false,
    show_desktop_notifications: false,
    render_media: false,
    loglevel: process.env.CONVERSE_LOGLEVEL ?? 'info',
    ...extra,
  });

  const page = context.pages()[0] ?? (await context.newPage());
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
  const close = async () => {
    await context.close();
    server.close();
  };
  return { page, problems, evaluate, close };
}
