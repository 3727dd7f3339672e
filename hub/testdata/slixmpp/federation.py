"""A slixmpp user on another server (Prosody) talks to GeoHub over
federation.

Users: --user NAME PW at --domain (the Prosody's); --peer is a GeoHub
account's bare JID, --hub the hub's own JID.

Steps:
  1. Log in to Prosody and print ready.
  2. Wait for a chat from the GeoHub account (the Go test sends it once
     ready is printed) and answer it.
  3. Send the chat command help to the hub's JID and wait for the answer
     (an error: a remote JID has no rights there).

Prints: ready; message {from, body}; answer {from, type, condition, body}.
"""
import asyncio

import slixpeer
from slixpeer import emit, expect, wait


async def main(args):
    slixpeer.DOMAIN = args.domain
    c = slixpeer.Client(args, *args.user[0])
    await slixpeer.login_all([c])
    c.send_presence()
    got = expect(c, "message", lambda m: m["from"].bare == args.peer)
    emit("ready")
    m = await wait(got, "chat from " + args.peer)
    emit("message", **{"from": str(m["from"]), "body": m["body"]})
    c.send_message(mto=m["from"], mbody="hello from " + args.domain, mtype="chat")

    # slixmpp raises message_error, not message, for an error.
    answer = asyncio.get_running_loop().create_future()
    for event in ("message", "message_error"):
        c.add_event_handler(event, lambda m: m["from"].bare == args.hub and not answer.done()
                            and answer.set_result(m))
    c.send_message(mto=args.hub, mbody="help", mtype="chat")
    a = await wait(answer, "answer from " + args.hub)
    emit("answer", **{"from": str(a["from"]), "type": a["type"],
                      "condition": a["error"]["condition"] if a["type"] == "error" else "",
                      "body": a["body"]})
    await c.close()


if __name__ == "__main__":
    p = slixpeer.parser(__doc__)
    p.add_argument("--domain", required=True)
    p.add_argument("--peer", required=True)
    p.add_argument("--hub", required=True)
    slixpeer.run(main, p.parse_args())
