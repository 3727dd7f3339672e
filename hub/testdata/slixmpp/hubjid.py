"""The hub's own JID as a stock slixmpp operator sees it: a contact in its
roster, online, that answers chat commands, disco#info, ping and version,
and sends geofence alerts, each a chat message from that contact.

Users: --user DEVICE PW --user OPERATOR PW; --hub is the hub's bare JID;
--fence ID is the fence the Go test added (events enter and exit, notifying
the operator, watching the device).

Steps:
  1. Both log in and fetch their rosters with slixmpp's get_roster.
  2. The operator sends available presence and waits for the hub's.
  3. The operator asks the hub's JID for disco#info, a ping and its
     version, then sends it the chat command help and waits for the answer.
  4. The device publishes a fix outside the fence, one inside, and one
     outside again; the operator waits for both alerts (enter, exit).

Prints: session per client; roster {who, items: {jid: {name, subscription,
groups}}}; hub_presence {who, from, type, status, resources} (resources:
the hub's resources in slixmpp's roster); disco {identities, features};
ping {outcome}; version {name, version}; answer {from, to, type, body};
publish lines and alert_message lines (see alerts.py), and alerts {count,
from_contact}: how many alert messages slixmpp delivered as coming from a
roster contact.
"""
import datetime

import slixmpp

import slixpeer
from alerts import INSIDE, OUTSIDE, AlertLog, publish
from slixpeer import emit, expect, wait

LEAVE = ("f3", 52.50, 13.4002)


def roster_items(c):
    out = {}
    for jid in c.client_roster:
        item = c.client_roster[jid]
        out[str(jid)] = {"name": item["name"], "subscription": item["subscription"],
                         "groups": sorted(item["groups"])}
    return out


async def main(args):
    T = slixpeer.TIMEOUT
    hub = args.hub
    device = slixpeer.Client(args, *args.user[0])
    op = slixpeer.Client(args, *args.user[1])
    for c in (device, op):
        slixpeer.load_pubsub(c)
    op.register_plugin("xep_0092")
    log = AlertLog(op)
    await slixpeer.login_all([device, op])

    # 1. The rosters, as slixmpp keeps them.
    for c in (device, op):
        await c.get_roster(timeout=T)
        emit("roster", who=c.name, items=roster_items(c))

    # 2. The hub's presence, once the operator is available.
    online = expect(op, "presence_available", lambda p: p["from"].bare == hub)
    op.send_presence()
    p = await wait(online, "available presence from the hub")
    emit("hub_presence", who=op.name, **{"from": str(p["from"])}, type=p["type"], status=p["status"],
         resources=sorted(op.client_roster.presence(hub).keys()))
    device.send_presence()
    await slixpeer.sync(device)

    # 3. Disco, ping, version, then a chat command.
    info = await op["xep_0030"].get_info(jid=hub, timeout=T)
    emit("disco", identities=[list(i) for i in info["disco_info"]["identities"]],
         features=sorted(info["disco_info"]["features"]))
    how, _ = await slixpeer.outcome(op["xep_0199"].send_ping(hub, timeout=T))
    emit("ping", outcome=how)
    v = await op["xep_0092"].get_version(hub, timeout=T)
    emit("version", name=v["software_version"]["name"], version=v["software_version"]["version"])
    answer = expect(op, "message", lambda m: m["from"].bare == hub and m["body"].startswith("Commands"))
    op.send_message(mto=hub, mbody="help", mtype="chat")
    m = await wait(answer, "answer to help")
    emit("answer", **{k: str(m[k]) for k in ("from", "to", "type", "body")})

    # 4. Two alerts in a row: enter, then exit.
    enter = expect(op, "geohub_alert_message", lambda r: r["alert"]["event"] == "enter")
    leave = expect(op, "geohub_alert_message", lambda r: r["alert"]["event"] == "exit")
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    await publish(device, OUTSIDE, now - datetime.timedelta(seconds=3))
    await publish(device, INSIDE, now - datetime.timedelta(seconds=2))
    await publish(device, LEAVE, now - datetime.timedelta(seconds=1))
    await wait(enter, "enter alert at the operator")
    await wait(leave, "exit alert at the operator")
    contacts = [r for r in log.messages if slixmpp.JID(r["from"]).bare in op.client_roster]
    emit("alerts", count=len(log.messages), from_contact=len(contacts))

    await slixpeer.close_all([device, op])


if __name__ == "__main__":
    p = slixpeer.parser(__doc__)
    p.add_argument("--hub", required=True, help="the hub's bare JID")
    p.add_argument("--fence", required=True, help="id of the fence the test added")
    slixpeer.run(main, p.parse_args())
