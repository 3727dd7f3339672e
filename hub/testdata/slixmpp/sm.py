"""Stream management (XEP-0198) with slixmpp's xep_0198 plugin: alice enables
it with resumption, acknowledges what she reads, loses her TCP connection,
reconnects and resumes; what bob sent meanwhile arrives, once.

Prints: session per client; enabled {id, resume}; received {who, body,
phase} per message; acked {h} when the hub acknowledged alice's stanzas;
resumed {previd}.
"""
import asyncio

import slixpeer
from slixpeer import emit, expect, wait


async def main(args):
    alice = slixpeer.Client(args, *args.user[0], resource="phone")
    alice.register_plugin("xep_0198")
    sm = alice["xep_0198"]
    bob = slixpeer.Client(args, *args.user[1])
    enabled = expect(alice, "sm_enabled")
    await slixpeer.login_all([alice, bob])
    en = await wait(enabled, "sm_enabled")
    emit("enabled", id=en["id"], resume=str(en["resume"]))

    phase = "before"
    bodies = []

    def got(msg):
        if msg["body"]:
            bodies.append(msg["body"])
            emit("received", who="alice", body=msg["body"], phase=phase)
    alice.add_event_handler("message", got)

    acked = expect(alice, "stanza_acked")
    alice.send_presence()
    await slixpeer.sync(alice)
    sm.request_ack()
    await wait(acked, "the hub acknowledging alice's presence")
    emit("acked", h=sm.last_ack)

    for i in range(1, 4):
        bob.send_message(mto=alice.boundjid, mbody=f"m{i}", mtype="chat")
    while len(bodies) < 3:
        await asyncio.sleep(0.01)  # polling what arrived, bounded by the script timeout
    sm.send_ack()

    # The TCP connection dies under alice; she does not close her stream.
    gone = expect(alice, "disconnected")
    alice.transport.abort()
    await wait(gone, "alice's disconnection")
    phase = "cut"
    for i in range(4, 7):
        bob.send_message(mto=alice.boundjid, mbody=f"m{i}", mtype="chat")
    await slixpeer.sync(bob)

    phase = "resumed"
    resumed = expect(alice, "session_resumed")
    alice.connect((slixpeer.DOMAIN, alice.hub[1]), use_ssl=alice.direct_tls)
    r = await wait(resumed, "session_resumed")
    emit("resumed", previd=r["previd"], h=str(r["h"]))
    while len(bodies) < 6:
        await asyncio.sleep(0.01)

    # The session goes on, both ways.
    back = expect(bob, "message", lambda m: m["body"] == "back")
    alice.send_message(mto=bob.boundjid, mbody="back", mtype="chat")
    await wait(back, "alice's message after resumption")
    emit("received", who="bob", body="back", phase=phase)
    await slixpeer.sync(alice)
    emit("done", bodies=bodies)
    await slixpeer.close_all([alice, bob])


if __name__ == "__main__":
    slixpeer.run(main, slixpeer.parser(__doc__).parse_args())
