// messages.mjs: two @xmpp/client users, alice (resource js-alice) and bob
// (js-bob), exchange messages through the hub, and alice exchanges messages
// with a Go client whose full JID is GO_PEER.
//
// stdout, in order:
//   {"event":"online","alice":JID,"bob":JID}
//   {"event":"bob.received",...}    alice's chat to bob's full JID
//   {"event":"alice.received",...}  bob's reply to alice's bare JID
//   {"event":"sent-to-go","id":...} alice wrote to GO_PEER
//   {"event":"alice.from-go",...}   the Go client's answer
// A received message is reported as from, to, type, id and body.

import { connect, emit, env, main, stop, xml } from "./lib.mjs";

function report(event, stanza) {
  emit(event, {
    from: stanza.attrs.from || "",
    to: stanza.attrs.to || "",
    type: stanza.attrs.type || "",
    id: stanza.attrs.id || "",
    body: stanza.getChildText("body") || "",
  });
}

const byId = (id) => (s) => s.is("message") && s.attrs.id === id;

main(async () => {
  const goPeer = env("GO_PEER");
  const [alice, bob] = await Promise.all([
    connect("alice", { username: "alice", password: env("ALICE_PASSWORD"), resource: "js-alice" }),
    connect("bob", { username: "bob", password: env("BOB_PASSWORD"), resource: "js-bob" }),
  ]);
  // Available, so that messages to the bare JID reach them (RFC 6121 §8.5.2).
  await Promise.all([alice.send(xml("presence")), bob.send(xml("presence"))]);
  emit("online", { alice: alice.jid.toString(), bob: bob.jid.toString() });

  await alice.send(
    xml("message", { to: bob.jid.toString(), type: "chat", id: "js-1" }, xml("body", {}, "hello bob, from xmpp.js")),
  );
  report("bob.received", await bob.inbox.wait("alice's message", byId("js-1")));

  await bob.send(
    xml("message", { to: alice.jid.bare().toString(), type: "chat", id: "js-2" }, xml("body", {}, "hello alice")),
  );
  report("alice.received", await alice.inbox.wait("bob's reply", byId("js-2")));

  await alice.send(
    xml("message", { to: goPeer, type: "chat", id: "js-3" }, xml("body", {}, "hello Go, from xmpp.js")),
  );
  emit("sent-to-go", { id: "js-3" });
  report("alice.from-go", await alice.inbox.wait("the Go client's answer", byId("go-1")));

  await stop(alice, bob);
});
