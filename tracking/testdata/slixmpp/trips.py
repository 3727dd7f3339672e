"""A stock slixmpp operator asks the hub's JID for a device's trips and
stops over chat, as a person would from any XMPP client.

Users: --user OPERATOR PW; --hub is the hub's bare JID; --ask is a chat
command, repeatable, sent in order, each awaited before the next.

Prints: session for the operator, then answer {command, from, type, body}
per command.
"""
import os
import sys

# slixpeer, the shared harness, lives with the hub's slixmpp scripts.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "hub", "testdata", "slixmpp"))

import slixpeer  # noqa: E402
from slixpeer import emit, expect, wait  # noqa: E402


async def main(args):
    op = slixpeer.Client(args, *args.user[0])
    await slixpeer.login_all([op])
    for command in args.ask:
        got = expect(op, "message", lambda m: m["from"].bare == args.hub and m["type"] == "chat" and m["body"] != "")
        op.send_message(mto=args.hub, mbody=command, mtype="chat")
        m = await wait(got, "answer to " + command)
        emit("answer", command=command, **{k: str(m[k]) for k in ("from", "type", "body")})
    await slixpeer.close_all([op])


if __name__ == "__main__":
    p = slixpeer.parser(__doc__)
    p.add_argument("--hub", required=True)
    p.add_argument("--ask", action="append", default=[])
    slixpeer.run(main, p.parse_args())
