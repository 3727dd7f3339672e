"""Scenario 2: two slixmpp clients chat, both ways, through the hub.

alice -> bob's full JID, bob -> alice's full JID (answering the first), then
alice -> bob's bare JID once bob is available.

Prints: session {who, jid, mech, tls} per client, then one
received {who, from, to, type, id, body} per message that arrived.
"""
import slixpeer
from slixpeer import emit, expect, wait


def received(who, msg):
    emit("received", who=who, **{k: str(msg[k]) for k in ("from", "to", "type", "id", "body")})


def body_is(text):
    return lambda msg: msg["body"] == text


async def main(args):
    alice = slixpeer.Client(args, *args.user[0])
    bob = slixpeer.Client(args, *args.user[1])
    clients = [alice, bob]
    await slixpeer.login_all(clients)

    # alice -> bob, to bob's full JID: no presence needed.
    got = expect(bob, "message", body_is("hello bob"))
    m = alice.make_message(mto=bob.boundjid, mbody="hello bob", mtype="chat")
    m["id"] = "chat-1"
    m.send()
    received("bob", await wait(got, "message from alice at bob"))

    # bob answers to the from of what he got, alice's full JID.
    first = got.result()
    got = expect(alice, "message", body_is("hello alice"))
    m = bob.make_message(mto=first["from"], mbody="hello alice", mtype="chat")
    m["id"] = "chat-2"
    m.send()
    received("alice", await wait(got, "message from bob at alice"))

    # To the bare JID: delivered to bob's available resource. The ping makes
    # sure the hub has bob's presence before alice's message.
    bob.send_presence()
    await slixpeer.sync(bob)
    got = expect(bob, "message", body_is("to your account"))
    m = alice.make_message(mto=bob.boundjid.bare, mbody="to your account", mtype="chat")
    m["id"] = "chat-3"
    m.send()
    received("bob", await wait(got, "message to bob's bare JID"))

    await slixpeer.close_all(clients)


if __name__ == "__main__":
    slixpeer.run(main, slixpeer.parser(__doc__).parse_args())
