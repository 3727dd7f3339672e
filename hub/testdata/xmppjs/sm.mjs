// sm.mjs: stream management (XEP-0198) with @xmpp/client's own
// stream-management: alice's client enables it (with resumption) as it
// logs in, her connection dies under her without a closing <close/> or
// </stream:stream>, bob writes to her meanwhile, and her client reconnects
// and resumes the session: what bob wrote arrives, once.
//
// Works over TCP (xmpp://) and WebSocket (ws://), as XMPP_SERVICE says.
//
// stdout, in order:
//   {"event":"enabled","id":...,"max":...}
//   {"event":"resumed","previd":...,"bodies":[...]}  every body alice read, in order
//   {"event":"after","body":...}                      bob read alice's message after resumption

import { connect, emit, env, main, stop, withTimeout, xml } from "./lib.mjs";

// until resolves once cond() holds, polling.
async function until(cond) {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 5));
}

const body = (text) => (s) => s.is("message") && s.getChildText("body") === text;

main(async () => {
  const [alice, bob] = await Promise.all([
    connect("alice", { username: "alice", password: env("ALICE_PASSWORD"), resource: "js-phone" }),
    connect("bob", { username: "bob", password: env("BOB_PASSWORD"), resource: "js-desk" }),
  ]);
  const sm = alice.streamManagement;
  // <enable/> goes out once the client is online; <enabled/> comes later.
  await withTimeout(until(() => sm.enabled && sm.id), "<enabled/>");
  emit("enabled", { id: sm.id, max: sm.max });
  const bodies = [];
  alice.on("stanza", (s) => {
    if (s.is("message") && s.getChildText("body")) bodies.push(s.getChildText("body"));
  });

  const to = alice.jid.toString();
  const send = (c, to, text) => c.send(xml("message", { to, type: "chat" }, xml("body", {}, text)));
  for (const m of ["m1", "m2", "m3"]) await send(bob, to, m);
  await alice.inbox.wait("m3", body("m3"));

  // The link dies: no <close/>, no </stream:stream>.
  const gone = new Promise((resolve) => alice.once("disconnect", resolve));
  const raw = alice.socket.socket;
  if (typeof raw.destroy === "function") raw.destroy();
  else raw.close();
  await withTimeout(gone, "alice's disconnection");

  for (const m of ["m4", "m5", "m6"]) await send(bob, to, m);
  await bob.iqCaller.request(xml("iq", { type: "get", to: env("XMPP_DOMAIN") }, xml("ping", { xmlns: "urn:xmpp:ping" })));

  const resumed = new Promise((resolve) => sm.once("resumed", resolve));
  await alice.reconnect.reconnect();
  await withTimeout(resumed, "the session resumed");
  for (const m of ["m4", "m5", "m6"]) await alice.inbox.wait(m, body(m));
  emit("resumed", { previd: sm.id, bodies });

  await send(alice, bob.jid.toString(), "after");
  await bob.inbox.wait("alice's message after resumption", body("after"));
  emit("after", { body: "after" });
  await stop(alice, bob);
});
