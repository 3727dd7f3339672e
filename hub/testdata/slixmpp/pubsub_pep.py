"""PEP geoloc: a device publishes XEP-0080 positions to its own PEP node with
slixmpp's xep_0163/xep_0060, an operator who advertised geoloc+notify in its
XEP-0115 caps receives them.

Users: --user DEVICE PW --user OPERATOR PW. The operator must see the
device's presence: on GeoHub shared groups take care of it; with --subscribe
(for Prosody) the two subscribe to each other first. --caps-asker names each
JID the server asks for the operator's caps (GeoHub: its domain; Prosody:
each account's PEP service that got the presence).

Phases, each closed by a chat message from the device to the operator (so
whatever the server sent the operator before it has arrived):
  valid    the device publishes item 'fix1' (52.52, 13.405); the operator
           waits for its event.
  invalid  the device publishes item 'bad' with lat 95.
  login    a second operator resource ('late') comes online with the same
           caps and gets what the server sends a newcomer (the last item).
  probes   the operator reads the device's node and tries to publish to
           it; with --stranger, an account with no tie to the device
           tries to read it and to subscribe.

Prints: session per client; subscribed (with --subscribe); caps_answered;
publish {who, id, outcome, ...error fields}; event {who, resource, phase,
kind, from, to, type, node, id, geoloc} for every notification received;
probe {name, outcome, ids or error fields}; marker {phase} when a phase
is over.
"""
import slixpeer
from slixpeer import NS_GEOLOC, emit, wait

NS_PUBSUB = "http://jabber.org/protocol/pubsub"

FIX1 = [("accuracy", 5), ("description", "Alexanderplatz"), ("lat", 52.52),
        ("lon", 13.405), ("timestamp", "2024-05-01T12:00:00Z")]
BAD = [("lat", 95), ("lon", 13.405)]


async def publish(device, item_id, fields):
    how, res = await slixpeer.outcome(device["xep_0163"].publish(
        Payload(slixpeer.geoloc(fields)), node=NS_GEOLOC, id=item_id, timeout=slixpeer.TIMEOUT))
    if how == "result":
        item = res.xml.find(f".//{{{NS_PUBSUB}}}item")
        emit("publish", who=device.name, id=item_id, outcome="result",
             result_id=item.get("id", "") if item is not None else "")
    else:
        emit("publish", who=device.name, id=item_id, outcome="error", **res)
    return how


def item_ids(iq):
    return [el.get("id") for el in iq.xml.iter(f"{{{NS_PUBSUB}}}item")]


class Payload:
    """What xep_0163.publish wants: an object with .xml and .namespace."""
    namespace = NS_GEOLOC

    def __init__(self, el):
        self.xml = el


async def main(args):
    device = slixpeer.Client(args, *args.user[0])
    op = slixpeer.Client(args, *args.user[1])
    late = slixpeer.Client(args, *args.user[1], resource="late")
    for c in (device, op, late):
        slixpeer.load_pubsub(c)
        c.auto_authorize = None  # nothing automatic: see subscribe_both
    log = slixpeer.EventLog(op, "valid")
    slixpeer.EventLog(late, "login")  # prints what the newcomer gets
    await slixpeer.login_all([device, op])
    if args.subscribe:
        await slixpeer.subscribe_both(op, device)
    device.send_presence()
    await slixpeer.sync(device)
    await slixpeer.announce_interest(op, [NS_GEOLOC], args.caps_asker)

    # valid: the event comes.
    got = log.expect(lambda e: e["kind"] == "publish" and e.get("id") == "fix1")
    if await publish(device, "fix1", FIX1) != "result":
        raise slixpeer.Failure("publishing a valid geoloc failed")
    await wait(got, "geoloc event for fix1 at the operator")
    await slixpeer.barrier(device, op, "end of valid")
    emit("marker", phase="valid")

    # invalid: lat 95.
    log.phase = "invalid"
    await publish(device, "bad", BAD)
    await slixpeer.barrier(device, op, "end of invalid")
    emit("marker", phase="invalid")

    # login: a newcomer with the same caps.
    log.phase = "after"
    await slixpeer.login_all([late])
    await slixpeer.announce_interest(late, [NS_GEOLOC], [])
    await slixpeer.barrier(device, late, "end of login")
    emit("marker", phase="login")

    # probes: who may read and write the device's node.
    log.phase = "probes"
    T = slixpeer.TIMEOUT
    bare = device.boundjid.bare
    how, res = await slixpeer.outcome(op["xep_0060"].get_items(bare, NS_GEOLOC, timeout=T))
    emit("probe", name="contact reads", outcome=how,
         **(dict(ids=item_ids(res)) if how == "result" else res))
    how, res = await slixpeer.outcome(op["xep_0060"].publish(
        bare, NS_GEOLOC, id="forged", payload=slixpeer.geoloc(FIX1), timeout=T))
    emit("probe", name="contact publishes", outcome=how, **({} if how == "result" else res))
    if args.stranger:
        stranger = slixpeer.Client(args, *args.stranger)
        slixpeer.load_pubsub(stranger)
        await slixpeer.login_all([stranger])
        how, res = await slixpeer.outcome(stranger["xep_0060"].get_items(bare, NS_GEOLOC, timeout=T))
        emit("probe", name="stranger reads", outcome=how,
             **(dict(ids=item_ids(res)) if how == "result" else res))
        how, res = await slixpeer.outcome(stranger["xep_0060"].subscribe(bare, NS_GEOLOC, timeout=T))
        emit("probe", name="stranger subscribes", outcome=how, **({} if how == "result" else res))
        await slixpeer.close_all([stranger])
    await slixpeer.barrier(device, op, "end of probes")
    emit("marker", phase="probes")

    await slixpeer.close_all([device, op, late])


if __name__ == "__main__":
    p = slixpeer.parser(__doc__)
    p.add_argument("--subscribe", action="store_true",
                   help="operator and device subscribe to each other's presence first")
    p.add_argument("--stranger", nargs=2, metavar=("NAME", "PASSWORD"),
                   help="an account with no tie to the device, for the probes")
    p.add_argument("--caps-asker", action="append", default=[],
                   help="JID expected to ask for the operator's caps")
    slixpeer.run(main, p.parse_args())
