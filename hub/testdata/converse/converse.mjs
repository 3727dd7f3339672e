// End-to-end test of Converse.js (the npm package, pinned in
// package-lock.json) in Debian's Chromium against a real `geohub serve`,
// run by TestConverseInChromium (hub/interop_converse_test.go).
//
// Converse runs in Chromium through harness.mjs (nothing leaves loopback)
// and logs in over XMPP over WebSocket. Then, in order: OMEMO is set up
// (its bundle and device list published), the chat with the hub is opened
// from the roster and `help` answered there, two alerts arrive in that chat, and a chat opened by JID
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

import { ack, closeAnswers, env, step } from '../../../internal/peers/browser.mjs';
import { openConverse } from './harness.mjs';
import path from 'node:path';

const hubJID = env('HUB_JID');
const peerJID = env('PEER_JID');

const { page, problems, evaluate, close } = await openConverse({ omemo_default: true });
try {
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
  await close();
}
