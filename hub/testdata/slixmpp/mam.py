"""Message carbons (XEP-0280) and the message archive (XEP-0313) as stock
slixmpp clients use them, through its xep_0280 and xep_0313 plugins.

Users: --user DEVICE PW --user OPERATOR PW --user FRIEND PW. The Go test
added a fence that notifies the operator when the device enters it.

Steps:
  1. The operator logs in twice: "phone" (priority -1, as a phone in the
     background) and "desktop"; both enable carbons. The friend and the
     device log in.
  2. A conversation: the friend writes to the desktop's full JID (the
     phone sees a received carbon); the phone answers the friend (the
     desktop sees a sent carbon).
  3. A chat command from the desktop to the hub's JID: the phone sees the
     command (sent carbon) and the answer (received carbon).
  4. The device drives into the fence: the desktop gets the alert, the
     phone a carbon of it.
  5. A "laptop" of the operator that was away logs in and fetches what it
     missed with MAM, 3 per page (slixmpp's RSM iterator), then the last
     page backwards.
  6. The laptop reads the device's trail with a MAM query on the device's
     geoloc node, 4 points per page, and once more for a time window.

Prints: session per client; carbon {who, dir, from, to, body, alert};
message {who, from, body, alert}; mam_page {who, n, complete, first, last};
mam {who, id, from, to, body, alert, stamp}; mam_last {ids, bodies};
trail {id, lat, lon, timestamp, speed}; trail_page {n}; trail_window
{timestamps}.
"""
import datetime

import slixpeer
from slixmpp import JID
from slixpeer import NS_GEOLOC, emit, expect, wait

NS_ALERT = "urn:geohub:alert:0"
NS_MAM = "urn:xmpp:mam:2"
NS_EVENT = slixpeer.NS_PUBSUB_EVENT
HUB = "geohub@localhost"


def alert_of(msg):
    el = msg.xml.find(f"{{{NS_ALERT}}}alert")
    return None if el is None else dict(el.attrib)


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


async def publish(device, item_id, lat, lon, when, speed):
    fields = [("lat", lat), ("lon", lon), ("accuracy", 5), ("speed", speed), ("timestamp", stamp(when))]
    how, res = await slixpeer.outcome(device["xep_0060"].publish(
        None, NS_GEOLOC, id=item_id, payload=slixpeer.geoloc(fields), timeout=slixpeer.TIMEOUT))
    if how != "result":
        raise slixpeer.Failure(f"publishing fix {item_id}: {res}")


def watch(client):
    """Print every carbon and every message with a body the client gets."""
    who = client.boundjid.resource

    def carbon(direction):
        def handler(msg):
            fwd = msg[f"carbon_{direction}"]
            emit("carbon", who=who, dir=direction, **{"from": str(fwd["from"])}, to=str(fwd["to"]),
                 body=fwd["body"], alert=alert_of(fwd))
            client.event("geohub_carbon", (direction, fwd))
        return handler

    client.add_event_handler("carbon_received", carbon("received"))
    client.add_event_handler("carbon_sent", carbon("sent"))

    def message(msg):
        if msg["body"]:
            emit("message", who=who, **{"from": str(msg["from"])}, body=msg["body"], alert=alert_of(msg))

    client.add_event_handler("message", message)


def carbon_with(client, direction, pred):
    return expect(client, "geohub_carbon", lambda c: c[0] == direction and pred(c[1]))


def node_query(client, owner, node):
    """slixmpp 1.8's xep_0313 has no node parameter (XEP-0313 §4.1.2):
    put node='...' on its queries to owner on the way out."""
    def add_node(stanza):
        q = stanza.xml.find(f"{{{NS_MAM}}}query")
        if q is not None and stanza["to"] == JID(owner) and stanza["type"] == "set":
            q.set("node", node)
        return stanza
    client.add_filter("out", add_node)


def trail_point(result):
    fwd = result["mam_result"]["forwarded"]["stanza"]
    item = fwd.xml.find(f"{{{NS_EVENT}}}event/{{{NS_EVENT}}}items/{{{NS_EVENT}}}item")
    if item is None:
        raise slixpeer.Failure(f"MAM result without an item: {result}")
    g = slixpeer.geoloc_fields(item[0] if len(item) else None) or {}
    return dict(id=result["mam_result"]["id"], item=item.get("id", ""), lat=g.get("lat"), lon=g.get("lon"),
                timestamp=g.get("timestamp"), speed=g.get("speed"))


async def main(args):
    T = slixpeer.TIMEOUT
    device = slixpeer.Client(args, *args.user[0], resource="gps")
    phone = slixpeer.Client(args, *args.user[1], resource="phone")
    desktop = slixpeer.Client(args, *args.user[1], resource="desktop")
    friend = slixpeer.Client(args, *args.user[2])
    slixpeer.load_pubsub(device)
    for c in (phone, desktop):
        c.register_plugin("xep_0280")
    await slixpeer.login_all([device, phone, desktop, friend])

    # 1. Carbons on both of the operator's resources.
    for c in (phone, desktop):
        await c["xep_0280"].enable(timeout=T)
        watch(c)
    phone.send_presence(ppriority=-1)
    for c in (desktop, friend, device):
        c.send_presence()
    for c in (phone, desktop, friend, device):
        await slixpeer.sync(c)

    # 2. A conversation.
    seen = carbon_with(phone, "received", lambda m: m["body"] == "hello desktop")
    friend.send_message(mto=desktop.boundjid.full, mbody="hello desktop", mtype="chat")
    await wait(seen, "received carbon of the friend's message at the phone")
    seen = carbon_with(desktop, "sent", lambda m: m["body"] == "hi, from the phone")
    got = expect(friend, "message", lambda m: m["body"] == "hi, from the phone")
    phone.send_message(mto=friend.boundjid.bare, mbody="hi, from the phone", mtype="chat")
    await wait(seen, "sent carbon of the phone's answer at the desktop")
    await wait(got, "the phone's answer at the friend")

    # 3. A chat command.
    command = carbon_with(phone, "sent", lambda m: m["body"] == f"where {device.name}")
    answer = carbon_with(phone, "received", lambda m: m["from"].bare == HUB)
    direct = expect(desktop, "message", lambda m: m["from"].bare == HUB and m["body"])
    desktop.send_message(mto=HUB, mbody=f"where {device.name}", mtype="chat")
    await wait(direct, "the command's answer at the desktop")
    await wait(command, "sent carbon of the command at the phone")
    await wait(answer, "received carbon of the answer at the phone")

    # 4. An alert.
    direct = expect(desktop, "message", lambda m: alert_of(m) is not None)
    carbon = carbon_with(phone, "received", lambda m: alert_of(m) is not None)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    start = now - datetime.timedelta(minutes=20)
    for i in range(10):  # outside, on the way
        await publish(device, f"f{i}", 52.50 - 0.001 * (10 - i), 13.40, start + datetime.timedelta(minutes=i), i)
    await publish(device, "in", 52.5101, 13.4001, start + datetime.timedelta(minutes=10), 10)
    await wait(direct, "the alert at the desktop")
    await wait(carbon, "the alert's carbon at the phone")

    # 5. The laptop that was away catches up.
    laptop = slixpeer.Client(args, *args.user[1], resource="laptop")
    laptop.register_plugin("xep_0313")
    await slixpeer.login_all([laptop])
    async for page in laptop["xep_0313"].retrieve(iterator=True, rsm={"max": 3}):
        results = page["mam"]["results"]
        rsm = page["mam_fin"]["rsm"]
        # slixmpp 1.8's Fin stanza has no 'complete' interface: read it.
        fin = page.xml.find(f"{{{NS_MAM}}}fin")
        emit("mam_page", who="laptop", n=len(results), complete=fin.get("complete", ""),
             first=rsm["first"], last=rsm["last"])
        for r in results:
            fwd = r["mam_result"]["forwarded"]
            m = fwd["stanza"]
            emit("mam", who="laptop", id=r["mam_result"]["id"], **{"from": str(m["from"])}, to=str(m["to"]),
                 body=m["body"], alert=alert_of(m), stamp=str(fwd["delay"]["stamp"]))
    async for page in laptop["xep_0313"].retrieve(iterator=True, reverse=True, rsm={"max": 2}):
        results = page["mam"]["results"]
        emit("mam_last", ids=[r["mam_result"]["id"] for r in results],
             bodies=[r["mam_result"]["forwarded"]["stanza"]["body"] for r in results])
        break

    # 6. The device's trail.
    node_query(laptop, device.boundjid.bare, NS_GEOLOC)
    async for page in laptop["xep_0313"].retrieve(jid=JID(device.boundjid.bare), iterator=True, rsm={"max": 4}):
        results = page["mam"]["results"]
        emit("trail_page", n=len(results))
        for r in results:
            emit("trail", **trail_point(r))
    window = await laptop["xep_0313"].retrieve(
        jid=JID(device.boundjid.bare), start=start + datetime.timedelta(minutes=2),
        end=start + datetime.timedelta(minutes=4), timeout=T)
    emit("trail_window", timestamps=[trail_point(r)["timestamp"] for r in window["mam"]["results"]])

    await slixpeer.close_all([device, phone, desktop, friend, laptop])


if __name__ == "__main__":
    slixpeer.run(main, slixpeer.parser(__doc__).parse_args())
