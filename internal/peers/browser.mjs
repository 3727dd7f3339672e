// browser.mjs: the script side of BrowserScript (browser.go), for the
// Node scripts that drive Debian's Chromium with playwright-core
// (dashboard/web/e2e, hub/testdata/converse), which import it by relative
// path. It uses Node's own modules only, so it needs no node_modules here.

import readline from 'node:readline';

// env returns the environment variable k, which must be set.
export const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};

// step reports a step to the Go test as a JSON line on stdout.
export const step = (name, extra = {}) => console.log(JSON.stringify({ step: name, ...extra }));

// What the Go test answers on stdin, one line per step it has done; read
// from the first ack on.
let input;
let answers;

// ack waits up to ms for the Go test to answer name.
export async function ack(name, ms = 60_000) {
  if (!input) {
    input = readline.createInterface({ input: process.stdin });
    answers = input[Symbol.asyncIterator]();
  }
  let timer;
  const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no "${name}" from the Go test within ${ms} ms`)), ms); });
  try {
    const { value, done } = await Promise.race([answers.next(), late]);
    if (done || value.trim() !== name) throw new Error(`the Go test answered ${done ? 'nothing' : JSON.stringify(value)}, not "${name}"`);
  } finally {
    clearTimeout(timer);
  }
}

// closeAnswers stops reading stdin, which would keep the script alive.
export function closeAnswers() {
  if (!input) return;
  input.close();
  process.stdin.destroy();
}

// chromiumOptions are the options of chromium.launchPersistentContext for
// Debian's Chromium (peers.Chromium), headless and without its own
// background traffic, with extra added.
export const chromiumOptions = (extra = {}) => ({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  viewport: { width: 1400, height: 900 },
  ...extra,
});
