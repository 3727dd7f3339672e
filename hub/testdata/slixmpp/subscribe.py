"""Scenario 3: roster and presence subscription between two slixmpp clients.

alice adds bob to her roster and subscribes; bob approves; then bob
subscribes back and alice approves, so both end with subscription 'both'.
Subscriptions are answered by hand (auto_authorize None): slixmpp's automatic
approval would also send a directed presence, and the point is to see the
presence the hub itself sends once a subscription is approved.

Prints: session per client; push {who, jid, subscription, ask, name, groups}
for each roster push waited for; request {who, from, to} for each
subscription request; presence {who, from, show, status} for each presence
that arrived after an approval; roster {who, items} from a final roster get.
"""
import slixmpp

import slixpeer
from slixpeer import emit, expect, wait


def item_of(iq, jid):
    """The roster item for jid in a roster push, or None."""
    if iq["type"] != "set":  # roster_update also fires for get results
        return None
    for k, v in iq["roster"]["items"].items():
        if str(k) == jid:
            return v
    return None


def push(client, jid, subscription, ask=""):
    """Future for the roster push that puts jid in the given state."""
    def match(iq):
        it = item_of(iq, jid)
        return it is not None and it["subscription"] == subscription and it["ask"] == ask
    return expect(client, "roster_update", match)


def report_push(who, jid, iq):
    it = item_of(iq, jid)
    emit("push", who=who, jid=jid, subscription=it["subscription"], ask=it["ask"],
         name=it["name"], groups=list(it["groups"]))


AVAILABLE = ("available", "chat", "away", "xa", "dnd")


def presence_from(client, full):
    # slixmpp names an available presence's event after its <show/>
    # (presence_chat, ...), so listen to all and look at the type.
    return expect(client, "presence",
                  lambda p: str(p["from"]) == full and p["type"] in AVAILABLE)


def report_presence(who, p):
    emit("presence", who=who, **{k: str(p[k]) for k in ("from", "to", "show", "status")})


async def full_roster(client):
    """A roster get without a version, so the hub sends every item."""
    iq = client.Iq()
    iq["type"] = "get"
    iq.enable("roster")
    res = await iq.send(timeout=slixpeer.TIMEOUT)
    items = [dict(jid=str(k), subscription=v["subscription"], ask=v["ask"],
                  name=v["name"], groups=list(v["groups"]))
             for k, v in res["roster"]["items"].items()]
    emit("roster", who=client.name, items=items)


async def main(args):
    alice = slixpeer.Client(args, *args.user[0])
    bob = slixpeer.Client(args, *args.user[1])
    clients = [alice, bob]
    for c in clients:
        c.auto_authorize = None  # approve by hand, see above
    await slixpeer.login_all(clients)
    a_bare, b_bare = alice.boundjid.bare, bob.boundjid.bare
    a_full, b_full = str(alice.boundjid), str(bob.boundjid)

    # Ask for the roster (the hub pushes only to resources that did), then
    # become available; the pings make sure the hub has done both.
    for c in clients:
        await c.get_roster(timeout=slixpeer.TIMEOUT)
    alice.send_presence()
    bob.send_presence(pshow="chat", pstatus="driving")
    for c in clients:
        await slixpeer.sync(c)

    # alice adds bob to her roster.
    added = push(alice, b_bare, "none")
    await alice.update_roster(b_bare, name="Bob", groups=["Friends"], timeout=slixpeer.TIMEOUT)
    report_push("alice", b_bare, await wait(added, "roster push of the new item"))

    # alice subscribes to bob: her item is pending out; bob gets the request.
    pending = push(alice, b_bare, "none", ask="subscribe")
    request = expect(bob, "roster_subscription_request", lambda p: p["from"].bare == a_bare)
    alice.send_presence_subscription(pto=b_bare)
    report_push("alice", b_bare, await wait(pending, "push with ask='subscribe'"))
    p = await wait(request, "subscription request at bob")
    emit("request", who="bob", **{"from": str(p["from"]), "to": str(p["to"])})

    # bob approves: alice's item becomes 'to', bob's 'from', and alice gets
    # bob's current presence from the hub.
    to = push(alice, b_bare, "to")
    frm = push(bob, a_bare, "from")
    approved = expect(alice, "presence_subscribed", lambda p: p["from"].bare == b_bare)
    pres = presence_from(alice, b_full)
    bob.send_presence(pto=a_bare, ptype="subscribed")
    report_push("alice", b_bare, await wait(to, "push of subscription 'to' at alice"))
    report_push("bob", a_bare, await wait(frm, "push of subscription 'from' at bob"))
    await wait(approved, "'subscribed' at alice")
    report_presence("alice", await wait(pres, "bob's presence at alice"))

    # And back: bob subscribes to alice, alice approves: both.
    pending = push(bob, a_bare, "from", ask="subscribe")
    request = expect(alice, "roster_subscription_request", lambda p: p["from"].bare == b_bare)
    bob.send_presence_subscription(pto=a_bare)
    report_push("bob", a_bare, await wait(pending, "push with subscription 'from', ask='subscribe'"))
    p = await wait(request, "subscription request at alice")
    emit("request", who="alice", **{"from": str(p["from"]), "to": str(p["to"])})
    both_a = push(alice, b_bare, "both")
    both_b = push(bob, a_bare, "both")
    pres = presence_from(bob, a_full)
    alice.send_presence(pto=b_bare, ptype="subscribed")
    report_push("alice", b_bare, await wait(both_a, "push of subscription 'both' at alice"))
    report_push("bob", a_bare, await wait(both_b, "push of subscription 'both' at bob"))
    report_presence("bob", await wait(pres, "alice's presence at bob"))

    for c in clients:
        await full_roster(c)
    await slixpeer.close_all(clients)


if __name__ == "__main__":
    slixpeer.run(main, slixpeer.parser(__doc__).parse_args())
