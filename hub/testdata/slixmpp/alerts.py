"""Geofence alerts as a stock slixmpp operator receives them: a slixmpp
device drives into a fence and the operator gets the hub's chat message
(with its <alert xmlns='urn:geohub:alert:0'/>) and the alert item on the
pubsub service's nodes alerts and alerts/<fence>.

Users: --user DEVICE PW --user OPERATOR PW; --fence ID is the fence the Go
test added, which notifies the operator and watches the device.

Steps:
  1. Both log in and send available presence; the operator subscribes to
     alerts and alerts/<fence> with xep_0060; the device tries to subscribe
     to alerts and to read alerts/<fence> (it should be refused).
  2. The device publishes a fix outside the fence, then one inside, to its
     own PEP geoloc node (xep_0060 publish to its account, as xep_0163 does).
  3. The operator waits for the chat alert and for the item on both nodes.
  4. A chat message from the operator to the device closes the run: the
     hub routed any alert for the device before it.

Prints: session per client; subscribe {who, node, outcome, subscription |
error fields}; probe {name, outcome, error fields}; publish {who, id, lat,
lon, timestamp, outcome}; alert_message {who, from, to, type, id, body,
alert, geoloc}; alert_item {who, from, to, type, node, id, alert, geoloc};
device_saw {messages, items}: alert messages and alert items that reached
the device (should be empty).
"""
import datetime

import slixpeer
from slixpeer import NS_GEOLOC, emit, expect, wait

SERVICE = "pubsub.localhost"
NS_ALERT = "urn:geohub:alert:0"
NS_PUBSUB_EVENT = slixpeer.NS_PUBSUB_EVENT

OUTSIDE = ("f1", 52.50, 13.40)
INSIDE = ("f2", 52.5101, 13.4001)


def alert_fields(el):
    """The attributes of an <alert/> and the fields of its <geoloc/>, or
    (None, None) when el is not an alert."""
    if el is None or el.tag != f"{{{NS_ALERT}}}alert":
        return None, None
    return dict(el.attrib), slixpeer.geoloc_fields(el.find(f"{{{NS_GEOLOC}}}geoloc"))


class AlertLog:
    """The alerts a client receives, both ways: chat messages carrying an
    <alert/> (fired as geohub_alert_message) and pubsub items carrying one
    (fired as geohub_alert_item), each recorded as a plain dict."""

    def __init__(self, client, printing=True):
        self.client = client
        self.printing = printing
        self.messages, self.items = [], []
        client.add_event_handler("message", self._message)
        client.add_event_handler("pubsub_publish", self._item)

    def _message(self, msg):
        alert, geo = alert_fields(msg.xml.find(f"{{{NS_ALERT}}}alert"))
        if alert is None:
            return
        rec = {k: str(msg[k]) for k in ("from", "to", "type", "id", "body")}
        rec.update(alert=alert, geoloc=geo)
        self.messages.append(rec)
        if self.printing:
            emit("alert_message", who=self.client.name, **rec)
        self.client.event("geohub_alert_message", rec)

    def _item(self, msg):
        items = msg["pubsub_event"]["items"]
        # Through .xml, not `for item in items`: slixmpp is iterating over
        # the same stanza while it calls this handler (see slixpeer.EventLog).
        for child in items.xml:
            if child.tag != f"{{{NS_PUBSUB_EVENT}}}item":
                continue
            alert, geo = alert_fields(child[0] if len(child) else None)
            rec = {"from": str(msg["from"]), "to": str(msg["to"]), "type": msg["type"],
                   "node": items["node"], "id": child.get("id", ""), "alert": alert, "geoloc": geo}
            self.items.append(rec)
            if self.printing:
                emit("alert_item", who=self.client.name, **rec)
            self.client.event("geohub_alert_item", rec)


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


async def publish(device, fix, when):
    item_id, lat, lon = fix
    fields = [("lat", lat), ("lon", lon), ("accuracy", 5), ("timestamp", stamp(when))]
    # To the device's own account (no 'to'): its PEP service, XEP-0163.
    how, res = await slixpeer.outcome(device["xep_0060"].publish(
        None, NS_GEOLOC, id=item_id, payload=slixpeer.geoloc(fields), timeout=slixpeer.TIMEOUT))
    emit("publish", who=device.name, id=item_id, lat=lat, lon=lon, timestamp=stamp(when),
         outcome=how, **({} if how == "result" else res))
    if how != "result":
        raise slixpeer.Failure(f"publishing fix {item_id}: {res}")


async def main(args):
    T = slixpeer.TIMEOUT
    device = slixpeer.Client(args, *args.user[0])
    op = slixpeer.Client(args, *args.user[1])
    for c in (device, op):
        slixpeer.load_pubsub(c)
    log = AlertLog(op)
    device_log = AlertLog(device, printing=False)
    await slixpeer.login_all([device, op])
    for c in (device, op):
        c.send_presence()
        await slixpeer.sync(c)

    # 1. The operator subscribes before the device moves.
    nodes = ["alerts", f"alerts/{args.fence}"]
    for node in nodes:
        how, res = await slixpeer.outcome(op["xep_0060"].subscribe(SERVICE, node, timeout=T))
        if how == "result":
            sub = res["pubsub"]["subscription"]
            emit("subscribe", who=op.name, node=node, outcome=how, jid=str(sub["jid"]),
                 subscription=sub["subscription"])
        else:
            emit("subscribe", who=op.name, node=node, outcome=how, **res)
            raise slixpeer.Failure(f"operator could not subscribe to {node}: {res}")
    # The device may not read the alerts: an IqError from slixmpp.
    how, res = await slixpeer.outcome(device["xep_0060"].subscribe(SERVICE, "alerts", timeout=T))
    emit("probe", name="device subscribes to alerts", outcome=how, **({} if how == "result" else res))
    how, res = await slixpeer.outcome(device["xep_0060"].get_items(SERVICE, nodes[1], timeout=T))
    emit("probe", name="device reads the fence node", outcome=how, **({} if how == "result" else res))

    # 2. Outside, then inside; armed before the move.
    message = expect(op, "geohub_alert_message")
    items = {node: expect(op, "geohub_alert_item", lambda r, node=node: r["node"] == node)
             for node in nodes}
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    await publish(device, OUTSIDE, now - datetime.timedelta(seconds=2))
    await publish(device, INSIDE, now - datetime.timedelta(seconds=1))

    # 3. Both ways of hearing of it.
    await wait(message, "alert chat message at the operator")
    for node, fut in items.items():
        await wait(fut, f"alert item on {node} at the operator")

    # 4. Anything the hub sent the device about the alert is there by now.
    await slixpeer.barrier(op, device, "end of alerts")
    emit("device_saw", messages=device_log.messages, items=device_log.items)

    await slixpeer.close_all([device, op])


if __name__ == "__main__":
    p = slixpeer.parser(__doc__)
    p.add_argument("--fence", required=True, help="id of the fence the test added")
    slixpeer.run(main, p.parse_args())
