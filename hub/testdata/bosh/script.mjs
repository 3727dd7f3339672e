// script.mjs: what bosh.mjs and strophe.mjs share as test scripts: JSON
// lines on stdout for the Go test, a log on stderr, a time limit on every
// wait and on the whole run (BOSH_TIMEOUT_MS, 20 s by default; the run
// gets three times that).

import { basename } from "node:path";

export const TIMEOUT = Number(process.env.BOSH_TIMEOUT_MS || 20000);

const name = basename(process.argv[1]);

// emit writes one event for the test as a JSON line.
export function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

export function log(...args) {
  process.stderr.write(args.join(" ") + "\n");
}

export function fail(msg) {
  log(`${name} FAILED: ${msg}`);
  process.exit(1);
}

export function env(key) {
  const v = process.env[key];
  if (!v) fail(`environment variable ${key} is not set`);
  return v;
}

export function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT} ms waiting for ${what}`)), TIMEOUT);
    }),
  ]).finally(() => clearTimeout(timer));
}

// run runs main and exits: 0 when it resolves, 1 when it rejects or does
// not finish in time.
export function run(main) {
  const watchdog = setTimeout(() => fail(`script did not finish in ${3 * TIMEOUT} ms`), 3 * TIMEOUT);
  main().then(
    () => {
      clearTimeout(watchdog);
      process.exit(0);
    },
    (err) => fail(err?.stack || String(err)),
  );
}
