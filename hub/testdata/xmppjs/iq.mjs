// iq.mjs: IQs routed between clients. alice (resource js-alice) asks bob
// (js-bob) and a Go client (full JID GO_PEER) with iq gets in a custom
// namespace, through @xmpp/client's iqCaller; bob answers with iqCallee. The
// Go client also asks bob.
//
// stdout:
//   {"event":"online","alice":JID,"bob":JID}
//   {"event":"bob.served","from":...,"to":...,"text":...}  once per request bob answers
//   {"event":"alice.result","peer":"bob"|"go","type":...,"from":...,"text":...}
//   {"event":"alice.error","peer":"bob","condition":...,"type":...,"from":...}
// The script ends after bob has answered the Go client.

import { connect, emit, env, main, stop, withTimeout, xml } from "./lib.mjs";

const NS = "urn:geohub:interop:echo";

main(async () => {
  const goPeer = env("GO_PEER");
  const [alice, bob] = await Promise.all([
    connect("alice", { username: "alice", password: env("ALICE_PASSWORD"), resource: "js-alice" }),
    connect("bob", { username: "bob", password: env("BOB_PASSWORD"), resource: "js-bob" }),
  ]);

  // bob echoes what he is asked, and says whom he answered.
  let servedGo;
  const goServed = new Promise((resolve) => (servedGo = resolve));
  bob.iqCallee.get(NS, "echo", (ctx) => {
    const text = ctx.element.text();
    emit("bob.served", { from: ctx.stanza.attrs.from || "", to: ctx.stanza.attrs.to || "", text });
    if (ctx.stanza.attrs.from === goPeer) servedGo();
    return xml("echo", { xmlns: NS }, xml("said", {}, text));
  });
  emit("online", { alice: alice.jid.toString(), bob: bob.jid.toString() });

  const ask = async (peer, to, text) => {
    const res = await withTimeout(
      alice.iqCaller.request(xml("iq", { type: "get", to }, xml("echo", { xmlns: NS }, text))),
      `answer from ${peer}`,
    );
    emit("alice.result", {
      peer,
      type: res.attrs.type,
      from: res.attrs.from || "",
      text: res.getChild("echo", NS)?.getChildText("said") ?? null,
    });
  };
  await ask("bob", bob.jid.toString(), "from xmpp.js to xmpp.js");
  await ask("go", goPeer, "from xmpp.js to Go");

  // A namespace bob does not handle: his @xmpp/client answers
  // service-unavailable, and the error comes back to alice.
  try {
    await withTimeout(
      alice.iqCaller.request(xml("iq", { type: "get", to: bob.jid.toString(), id: "unknown-1" }, xml("query", { xmlns: "urn:geohub:interop:unknown" }))),
      "bob's error",
    );
    emit("alice.error", { peer: "bob", condition: "", type: "result" });
  } catch (err) {
    if (err?.name !== "StanzaError") throw err;
    emit("alice.error", {
      peer: "bob",
      condition: err.condition,
      type: err.type || "",
      from: err.element?.parent?.attrs.from || "",
    });
  }

  await withTimeout(goServed, "the Go client's request to bob");
  await stop(alice, bob);
});
