// roster.mjs: roster management and a presence subscription both ways
// (RFC 6121 §2 and §3) between two @xmpp/client users, alice (resource
// js-alice) and bob (js-bob), who share no group on the hub.
//
// Each step is reported as one event named after it; the Go test checks
// the values against the RFC. Roster items are reported as
// {jid,name,subscription,ask,groups}; presences as {from,to,type,show,status}.

import { connect, emit, env, is, main, rosterItem, stop, withTimeout, xml } from "./lib.mjs";

const NS_ROSTER = "jabber:iq:roster";

function presence(stanza) {
  return {
    from: stanza.attrs.from || "",
    to: stanza.attrs.to || "",
    type: stanza.attrs.type || "",
    show: stanza.getChildText("show") || "",
    status: stanza.getChildText("status") || "",
  };
}

function pushed(stanza) {
  const q = stanza.getChild("query", NS_ROSTER);
  return { from: stanza.attrs.from || "", ver: q.attrs.ver ?? null, item: rosterItem(q.getChild("item")) };
}

async function getRoster(c, step) {
  const q = await withTimeout(c.iqCaller.get(xml("query", { xmlns: NS_ROSTER })), `${c.name}'s roster`);
  emit(step, { ver: q?.attrs.ver ?? null, items: (q?.getChildren("item") ?? []).map(rosterItem) });
}

// nextPush waits for the next roster push about jid.
const nextPush = (c, jid, what) => c.inbox.wait(what, is.rosterPush(jid));

// A presence of the given type from the contact, whatever resource (the
// test checks the from attribute).
const presenceOf = (bare, type) => (s) =>
  s.is("presence") && (s.attrs.type || "") === type && (s.attrs.from || "").split("/")[0] === bare;

main(async () => {
  const [alice, bob] = await Promise.all([
    connect("alice", { username: "alice", password: env("ALICE_PASSWORD"), resource: "js-alice" }),
    connect("bob", { username: "bob", password: env("BOB_PASSWORD"), resource: "js-bob" }),
  ]);
  // A client answers roster pushes with a result (RFC 6121 §2.1.6).
  for (const c of [alice, bob]) c.iqCallee.set(NS_ROSTER, "query", () => true);
  emit("online", { alice: alice.jid.toString(), bob: bob.jid.toString() });

  // Requesting the roster makes each an interested resource (RFC 6121 §2.1.3).
  await getRoster(alice, "alice.roster.initial");
  await getRoster(bob, "bob.roster.initial");

  // alice adds bob by a roster set and gets a push (RFC 6121 §2.3).
  await withTimeout(
    alice.iqCaller.set(
      xml("query", { xmlns: NS_ROSTER }, xml("item", { jid: "bob@localhost", name: "Bob" }, xml("group", {}, "Friends"))),
    ),
    "result of alice's roster set",
  );
  emit("alice.roster.set", {});
  emit("alice.push.added", pushed(await nextPush(alice, "bob@localhost", "push of the added item")));
  await getRoster(alice, "alice.roster.added");

  // Both become available; bob with a status alice should see later.
  await bob.send(xml("presence", {}, xml("show", {}, "chat"), xml("status", {}, "bob via xmpp.js")));
  await alice.send(xml("presence", {}, xml("status", {}, "alice via xmpp.js")));

  // alice subscribes to bob (RFC 6121 §3.1).
  await alice.send(xml("presence", { to: "bob@localhost", type: "subscribe" }));
  emit("alice.push.asked", pushed(await nextPush(alice, "bob@localhost", "push of the pending subscription")));
  emit("bob.subscribe", presence(await bob.inbox.wait("alice's subscription request", (s) => s.is("presence") && s.attrs.type === "subscribe")));

  // bob approves.
  await bob.send(xml("presence", { to: "alice@localhost", type: "subscribed" }));
  emit("bob.push.approved", pushed(await nextPush(bob, "alice@localhost", "push after approving")));
  emit("alice.push.approved", pushed(await nextPush(alice, "bob@localhost", "push after bob approved")));
  emit("alice.subscribed", presence(await alice.inbox.wait("bob's subscribed", presenceOf("bob@localhost", "subscribed"))));
  emit("alice.presence", presence(await alice.inbox.wait("bob's presence", presenceOf("bob@localhost", ""))));
  await getRoster(alice, "alice.roster.to");
  await getRoster(bob, "bob.roster.from");

  // And back: bob subscribes to alice, alice approves.
  await bob.send(xml("presence", { to: "alice@localhost", type: "subscribe" }));
  emit("bob.push.asked", pushed(await nextPush(bob, "alice@localhost", "push of bob's pending subscription")));
  emit("alice.subscribe", presence(await alice.inbox.wait("bob's subscription request", (s) => s.is("presence") && s.attrs.type === "subscribe")));
  await alice.send(xml("presence", { to: "bob@localhost", type: "subscribed" }));
  emit("alice.push.both", pushed(await nextPush(alice, "bob@localhost", "push after alice approved")));
  emit("bob.push.both", pushed(await nextPush(bob, "alice@localhost", "push after alice approved")));
  emit("bob.subscribed", presence(await bob.inbox.wait("alice's subscribed", presenceOf("alice@localhost", "subscribed"))));
  emit("bob.presence", presence(await bob.inbox.wait("alice's presence", presenceOf("alice@localhost", ""))));
  await getRoster(alice, "alice.roster.both");
  await getRoster(bob, "bob.roster.both");

  // A presence change now reaches the subscriber.
  await alice.send(xml("presence", {}, xml("show", {}, "away")));
  emit("bob.presence.away", presence(await bob.inbox.wait("alice's away presence", presenceOf("alice@localhost", ""))));

  // bob logs out: alice gets his unavailable presence (RFC 6121 §4.5.2).
  await stop(bob);
  emit("alice.presence.gone", presence(await alice.inbox.wait("bob's unavailable presence", presenceOf("bob@localhost", "unavailable"))));

  await stop(alice);
});
