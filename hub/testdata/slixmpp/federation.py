"""slixmpp users on another server (Prosody, ejabberd) use GeoHub over
federation.

Users: --user OPERATOR PW --user STRANGER PW at --domain (their server's);
the operator is a remote operator of GeoHub's fleet, the stranger has no
account there. --peer is a GeoHub device's bare JID, --hub the hub's own
JID.

Steps:
  1. Both log in to their server; print ready.
  2. The operator waits for a chat from the device (the Go test sends it
     once ready is printed) and answers it.
  3. The operator waits for a geofence alert from the hub (the Go test
     moves the device into a fence once message is printed), then sends
     the chat command where DEVICE and waits for the answer.
  4. The stranger sends help to the hub and waits for the answer: an
     error, since it has no rights there.
  5. The operator, announcing geoloc+notify in its XEP-0115 caps as stock
     clients do, subscribes to the device's presence: GeoHub approves at
     once for an operator of the device's group, sends the device's
     presence and asks back (slixmpp approves); prints presence.
  6. With the operator's presence, GeoHub asks the caps from the device's
     JID (prints caps_answered), sends the device's last fix (prints last)
     and, with no pubsub subscription, the fix f3 the Go test then
     publishes (prints geoloc).
  7. The operator also subscribes to the geoloc node (XEP-0060 on the
     device's PEP service), prints subscribed, and prints the ids of the
     notifications of the items f4 and f5 the Go test then publishes:
     each comes once.

Prints: ready; message {from, body}; alert {from, body, kind}; answer
{who, from, type, condition, body} for the operator's where and the
stranger's help; presence {from, subscription}; caps_answered {to}; last
{id}; geoloc {from, to, lat}; subscribed; sequence {ids}.
"""
import asyncio

import slixpeer
from slixpeer import emit, expect, wait

NS_ALERT = "urn:geohub:alert:0"
NS_GEOLOC = "http://jabber.org/protocol/geoloc"


def answer_from(c, jid):
    """A future for the next message or message error from jid (slixmpp
    raises message_error, not message, for an error)."""
    fut = asyncio.get_running_loop().create_future()
    for event in ("message", "message_error"):
        c.add_event_handler(event, lambda m: m["from"].bare == jid and not fut.done()
                            and fut.set_result(m))
    return fut


def emit_answer(who, a):
    emit("answer", who=who, **{"from": str(a["from"]), "type": a["type"],
                               "condition": a["error"]["condition"] if a["type"] == "error" else "",
                               "body": a["body"]})


async def main(args):
    slixpeer.DOMAIN = args.domain
    op = slixpeer.Client(args, *args.user[0])
    slixpeer.load_pubsub(op)
    stranger = slixpeer.Client(args, *args.user[1])
    await slixpeer.login_all([op, stranger])
    op.send_presence()
    got = expect(op, "message", lambda m: m["from"].bare == args.peer)
    await slixpeer.sync(op)  # Prosody has taken the presence: chats reach op
    emit("ready")
    m = await wait(got, "chat from " + args.peer)
    alert = expect(op, "message", lambda m: m["from"].bare == args.hub
                   and m.xml.find("{%s}alert" % NS_ALERT) is not None)
    emit("message", **{"from": str(m["from"]), "body": m["body"]})
    op.send_message(mto=m["from"], mbody="hello from " + args.domain, mtype="chat")

    a = await wait(alert, "alert from " + args.hub)
    emit("alert", **{"from": str(a["from"]), "body": a["body"],
                     "kind": a.xml.find("{%s}alert" % NS_ALERT).get("event")})
    where = answer_from(op, args.hub)
    op.send_message(mto=args.hub, mbody="where " + args.peer.split("@")[0], mtype="chat")
    emit_answer("operator", await wait(where, "answer to where"))

    refused = answer_from(stranger, args.hub)
    stranger.send_message(mto=args.hub, mbody="help", mtype="chat")
    emit_answer("stranger", await wait(refused, "answer to help"))

    # 5. The operator subscribes to the device's presence (after asking for
    # its roster: Prosody sends roster pushes and subscription answers only
    # to the resources that did), with geoloc+notify in its caps.
    await op.get_roster(timeout=slixpeer.TIMEOUT)
    fixes = []
    op.add_event_handler("pubsub_publish", lambda m: m["from"].bare == args.peer
                         and fixes.append(m["pubsub_event"]["items"]["item"]["id"]))
    last = expect(op, "pubsub_publish", lambda m: m["from"].bare == args.peer)
    fix = expect(op, "pubsub_publish", lambda m: m["from"].bare == args.peer
                 and m["pubsub_event"]["items"]["item"]["id"] == "f3")
    approved = expect(op, "presence_subscribed", lambda p: p["from"].bare == args.peer)
    available = expect(op, "presence_available", lambda p: p["from"].bare == args.peer)
    interest = asyncio.ensure_future(slixpeer.announce_interest(op, [NS_GEOLOC], [args.peer]))
    op.send_presence(pto=args.peer, ptype="subscribe")
    await wait(approved, "subscribed from " + args.peer)
    p = await wait(available, "presence of " + args.peer)

    # 6. GeoHub asks the caps back and sends the fixes without a pubsub
    # subscription (XEP-0163 auto-subscription).
    await wait(interest, "caps question from " + args.peer)
    emit("presence", **{"from": str(p["from"]), "subscription": op.client_roster[args.peer]["subscription"]})
    m = await wait(last, "last fix of " + args.peer)
    emit("last", id=m["pubsub_event"]["items"]["item"]["id"])
    m = await wait(fix, "geoloc notification f3")
    g = m["pubsub_event"]["items"]["item"].xml.find("{%s}geoloc" % NS_GEOLOC)
    emit("geoloc", **{"from": str(m["from"]), "to": str(m["to"]), "lat": g.find("{%s}lat" % NS_GEOLOC).text})

    # 7. An explicit subscription as well: each item still comes once.
    done = expect(op, "pubsub_publish", lambda m: m["from"].bare == args.peer
                  and m["pubsub_event"]["items"]["item"]["id"] == "f5")
    await op["xep_0060"].subscribe(args.peer, NS_GEOLOC, timeout=slixpeer.TIMEOUT)
    seen = len(fixes)
    emit("subscribed")
    await wait(done, "geoloc notification f5")
    emit("sequence", ids=" ".join(fixes[seen:]))
    await slixpeer.close_all([op, stranger])


if __name__ == "__main__":
    p = slixpeer.parser(__doc__)
    p.add_argument("--domain", required=True)
    p.add_argument("--peer", required=True)
    p.add_argument("--hub", required=True)
    slixpeer.run(main, p.parse_args())
