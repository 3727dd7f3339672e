"""XEP-0191 blocking through slixmpp's xep_0191 plugin.

Users: --user ALICE PW --user BOB PW --user CAROL PW. alice blocks bob.

Prints:
  blocklist {phase, jids}       alice's list: before, after block, after unblock
  push {action, jids}           a block/unblock push alice got
  step {name, outcome, ...}     each request
  bounce {who, id, condition, blocked}
                                an error message that came back to who
  received {who, from, body}    every chat message with a body that arrived
  marker {phase}                carol's message reached alice: whatever bob
                                sent alice before it was routed by then
"""
import slixpeer
from slixpeer import emit, expect, wait

NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"


def jids(items):
    return sorted(str(j) for j in items)


async def main(args):
    alice, bob, carol = (slixpeer.Client(args, *u) for u in args.user[:3])
    clients = [alice, bob, carol]
    for c in clients:
        c.register_plugin("xep_0030")
        c.register_plugin("xep_0191")
    await slixpeer.login_all(clients)
    T = slixpeer.TIMEOUT

    for c in clients:
        c.add_event_handler("message", lambda m, c=c: m["type"] != "error" and m["body"] and emit(
            "received", who=c.name, **{"from": str(m["from"]), "body": m["body"]}))
        c.add_event_handler("message_error", lambda m, c=c: emit(
            "bounce", who=c.name, id=m["id"], condition=m["error"]["condition"],
            blocked=m.xml.find(f"{{jabber:client}}error/{{{NS_BLOCKING_ERRORS}}}blocked") is not None))
    alice.add_event_handler("blocked", lambda iq: emit("push", action="block", jids=jids(iq["block"]["items"])))
    alice.add_event_handler("unblocked", lambda iq: emit("push", action="unblock", jids=jids(iq["unblock"]["items"])))

    async def blocklist(phase):
        iq = await alice["xep_0191"].get_blocked(timeout=T)
        emit("blocklist", phase=phase, jids=jids(iq["blocklist"]["items"]))

    for c in clients:
        c.send_presence()
        await slixpeer.sync(c)
    await blocklist("start")

    pushed = expect(alice, "blocked")
    how, res = await slixpeer.outcome(alice["xep_0191"].block(bob.boundjid.bare, timeout=T))
    emit("step", name="block", outcome=how, **(res if how == "error" else {}))
    await wait(pushed, "block push at alice")
    await blocklist("blocked")

    # bob writes to alice: refused; alice writes to bob: refused.
    bounced = expect(bob, "message_error", lambda m: m["id"] == "b1")
    m = bob.make_message(mto=alice.boundjid.bare, mbody="from bob while blocked", mtype="chat")
    m["id"] = "b1"
    m.send()
    await wait(bounced, "bounce of bob's message")
    got = expect(alice, "message", lambda m: m["body"] == "barrier blocked")
    carol.send_message(mto=alice.boundjid.bare, mbody="barrier blocked", mtype="chat")
    await wait(got, "barrier at alice")
    emit("marker", phase="blocked")
    bounced = expect(alice, "message_error", lambda m: m["id"] == "a1")
    m = alice.make_message(mto=bob.boundjid.bare, mbody="from alice to a blocked JID", mtype="chat")
    m["id"] = "a1"
    m.send()
    await wait(bounced, "bounce of alice's message")

    pushed = expect(alice, "unblocked")
    how, res = await slixpeer.outcome(alice["xep_0191"].unblock(bob.boundjid.bare, timeout=T))
    emit("step", name="unblock", outcome=how, **(res if how == "error" else {}))
    await wait(pushed, "unblock push at alice")
    await blocklist("unblocked")
    got = expect(alice, "message", lambda m: m["body"] == "from bob again")
    bob.send_message(mto=alice.boundjid.bare, mbody="from bob again", mtype="chat")
    await wait(got, "bob's message after unblocking")

    await slixpeer.close_all(clients)


if __name__ == "__main__":
    slixpeer.run(main, slixpeer.parser(__doc__).parse_args())
