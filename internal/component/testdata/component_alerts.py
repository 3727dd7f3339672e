"""GeoHub as an XEP-0114 component of Prosody, as stock slixmpp clients of
that Prosody see it: a device publishes XEP-0080 fixes to the component's
pubsub service, an operator gets the geofence alert as a chat message from
the component's JID and as items on the alert nodes, and asks the
component where the device is.

Users (accounts on Prosody, and accounts of the same names in GeoHub):
--user DEVICE PW --user OPERATOR PW; --service is the component's domain,
--fence the fence the Go test added (it watches the device and notifies
the operator). Uses hub/testdata/slixmpp (slixpeer, alerts) on PYTHONPATH.

Prints: session per client; subscribe {who, node, outcome, ...}; probe
{name, outcome, error fields}; publish {who, id, outcome, ...};
alert_message and alert_item (alerts.AlertLog); command {who, from, body}.
"""
import datetime

import slixpeer
from alerts import AlertLog, stamp
from slixpeer import NS_GEOLOC, emit, expect, wait

OUTSIDE = ("f1", 52.50, 13.40)
INSIDE = ("f2", 52.5101, 13.4001)


async def publish(device, service, fix, when):
    item_id, lat, lon = fix
    fields = [("lat", lat), ("lon", lon), ("accuracy", 5), ("timestamp", stamp(when))]
    how, res = await slixpeer.outcome(device["xep_0060"].publish(
        service, NS_GEOLOC, id=item_id, payload=slixpeer.geoloc(fields), timeout=slixpeer.TIMEOUT))
    emit("publish", who=device.name, id=item_id, outcome=how,
         **({"from": str(res["from"])} if how == "result" else res))
    if how != "result":
        raise slixpeer.Failure(f"publishing fix {item_id}: {res}")


async def main(args):
    T = slixpeer.TIMEOUT
    service = args.service
    device = slixpeer.Client(args, *args.user[0])
    op = slixpeer.Client(args, *args.user[1])
    for c in (device, op):
        slixpeer.load_pubsub(c)
    log = AlertLog(op)
    await slixpeer.login_all([device, op])
    for c in (device, op):
        c.send_presence()
        await slixpeer.sync(c)

    nodes = ["alerts", f"alerts/{args.fence}"]
    for node in nodes:
        how, res = await slixpeer.outcome(op["xep_0060"].subscribe(service, node, timeout=T))
        if how != "result":
            emit("subscribe", who=op.name, node=node, outcome=how, **res)
            raise slixpeer.Failure(f"operator could not subscribe to {node}: {res}")
        sub = res["pubsub"]["subscription"]
        emit("subscribe", who=op.name, node=node, outcome=how, jid=str(sub["jid"]),
             subscription=sub["subscription"])
    # The access rules are the standalone hub's: a device reads no alerts.
    how, res = await slixpeer.outcome(device["xep_0060"].subscribe(service, "alerts", timeout=T))
    emit("probe", name="device subscribes to alerts", outcome=how, **({} if how == "result" else res))

    message = expect(op, "geohub_alert_message")
    items = {node: expect(op, "geohub_alert_item", lambda r, node=node: r["node"] == node)
             for node in nodes}
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    await publish(device, service, OUTSIDE, now - datetime.timedelta(seconds=2))
    await publish(device, service, INSIDE, now - datetime.timedelta(seconds=1))
    await wait(message, "alert chat message at the operator")
    for node, fut in items.items():
        await wait(fut, f"alert item on {node} at the operator")

    # A chat command to the component's JID.
    answer = expect(op, "message", lambda m: str(m["from"]) == service and m["type"] == "chat"
                    and m.xml.find(f"{{urn:geohub:alert:0}}alert") is None)
    op.send_message(mto=service, mbody=f"where {device.name}", mtype="chat")
    m = await wait(answer, "answer to the where command")
    emit("command", who=op.name, **{"from": str(m["from"]), "body": str(m["body"])})

    await slixpeer.close_all([device, op])


if __name__ == "__main__":
    p = slixpeer.parser(__doc__)
    p.add_argument("--service", required=True, help="the component's domain")
    p.add_argument("--fence", required=True, help="id of the fence the test added")
    slixpeer.run(main, p.parse_args())
