"""A stock slixmpp operator watches an MQTT device: it subscribes to the
device's PEP geoloc node (XEP-0060 subscribe to the device's bare JID,
node http://jabber.org/protocol/geoloc), prints 'subscribed', and prints
every geoloc notification it receives until one has --lat.

Users: --user OPERATOR PW; --device is the device's bare JID. The Go test
publishes the fix with mosquitto_pub once it has read 'subscribed'.

Prints: session; subscribed {node, subscription}; event lines (see
slixpeer.EventLog); done.
"""
import pathlib
import sys

# The shared helpers of the hub's slixmpp tests.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "hub" / "testdata" / "slixmpp"))

import slixpeer  # noqa: E402
from slixpeer import NS_GEOLOC, emit, wait  # noqa: E402


async def main(args):
    op = slixpeer.Client(args, *args.user[0])
    slixpeer.load_pubsub(op)
    log = slixpeer.EventLog(op)
    await slixpeer.login_all([op])
    op.send_presence()
    await slixpeer.sync(op)
    fix = log.expect(lambda r: r.get("node") == NS_GEOLOC and r.get("from") == args.device
                     and (r.get("geoloc") or {}).get("lat") == args.lat)
    how, res = await slixpeer.outcome(op["xep_0060"].subscribe(args.device, NS_GEOLOC, timeout=slixpeer.TIMEOUT))
    if how != "result":
        raise slixpeer.Failure(f"subscribing to {args.device}'s geoloc: {res}")
    emit("subscribed", node=NS_GEOLOC, subscription=res["pubsub"]["subscription"]["subscription"])
    await wait(fix, f"the geoloc notification with lat {args.lat}")
    emit("done")
    await slixpeer.close_all([op])


if __name__ == "__main__":
    p = slixpeer.parser(__doc__)
    p.add_argument("--device", required=True, help="bare JID of the device")
    p.add_argument("--lat", required=True, help="latitude of the fix to wait for, as the hub writes it")
    slixpeer.run(main, p.parse_args())
