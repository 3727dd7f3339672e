// Converse.js as an operator's new device, run by
// TestConverseCatchesUpWithMAMAndCarbons (hub/interop_converse_mam_test.go):
// it logs in after a conversation happened on the operator's phone, opens
// the chat with PEER_JID and shows that conversation, fetched from the
// hub's message archive (XEP-0313); then the messages the phone gets and
// sends arrive as carbons (XEP-0280) and show too.
//
// Steps are JSON lines on stdout; where the script waits for the Go test,
// it reads the step's name from stdin.
//
// Input (environment): as harness.mjs, and PEER_JID, THEIRS and MINE (the
// archived messages from the peer and from the phone, joined by '|'),
// SCREENSHOTS (a folder).

import { ack, closeAnswers, env, step } from '../../../internal/peers/browser.mjs';
import { openConverse } from './harness.mjs';
import path from 'node:path';

const peerJID = env('PEER_JID');
const theirs = env('THEIRS').split('|');
const mine = env('MINE').split('|');

const { page, problems, evaluate, close } = await openConverse({ archived_messages_page_size: 2 });
try {
  await page.locator('converse-roster').waitFor();
  step('logged-in');

  const chat = page.locator(`converse-chat[jid="${peerJID}"]`);
  const peerSel = `converse-chat[jid="${peerJID}"] .chat-msg[data-from^="${peerJID}"] .chat-msg__text`;
  const mineSel = `converse-chat[jid="${peerJID}"] .chat-msg__content--me .chat-msg__text`;
  // shown waits until the chat shows at least n messages from the peer
  // and m of the account's own, and returns their texts.
  const shown = async (n, m) => {
    await page.waitForFunction(([a, b, n, m]) => document.querySelectorAll(a).length >= n && document.querySelectorAll(b).length >= m,
      [peerSel, mineSel, n, m]);
    return { theirs: await page.locator(peerSel).allInnerTexts(), mine: await page.locator(mineSel).allInnerTexts() };
  };

  // The chat with the peer, opened by JID (once Converse has the
  // blocklist, XEP-0191): its history comes from MAM.
  await evaluate('the blocklist', async () => (await window.geohubAPI.blocklist.get()).length);
  await page.locator('converse-roster .dropdown--contacts .dropdown-toggle').click();
  await page.locator('converse-roster .dropdown--contacts a.new-chat').click();
  const modal = page.locator('converse-new-chat-modal');
  await modal.locator('input[name="jid"]').fill(peerJID);
  await modal.locator('button[type="submit"]').click();
  await chat.locator('textarea.chat-textarea').waitFor();
  step('history', await shown(theirs.length, mine.length));
  await page.screenshot({ path: path.join(env('SCREENSHOTS'), 'converse-mam.png') });

  // Live now: what the phone gets and sends shows here as carbons.
  step('waiting-for-carbons');
  step('carbons', await shown(theirs.length + 1, mine.length + 1));
  await ack('carbons-checked');

  if (problems.length) throw new Error(problems.join('\n'));
  step('done');
} catch (e) {
  await page.screenshot({ path: path.join(env('SCREENSHOTS'), 'converse-mam-failed.png') }).catch(() => {});
  process.stderr.write(`problems:\n${problems.join('\n')}\n`);
  throw e;
} finally {
  closeAnswers();
  await close();
}
