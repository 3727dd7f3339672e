"""A node on the pubsub service (pubsub.localhost) through slixmpp's
xep_0060: an owner creates it and publishes, a watcher subscribes and sees
the notifications, then items, retract with notify, purge, unsubscribe.

Users: --user OWNER PW --user WATCHER PW (on Prosody the owner must be an
admin: only admins create nodes there).

Then the watcher tries what it should not be allowed to ('probe' steps),
and the owner retracts an item that is not there.

Every step prints a 'step' line {name, outcome, ...} and goes on whatever
the outcome, so that the test sees the whole picture; each step that may
notify the watcher is closed by a chat message from the owner to the
watcher (a barrier), and the watcher's notifications are printed as
'event' lines tagged with the step ('phase') they arrived in. When an
expected notification has not arrived by the barrier, the script waits for
it up to TIMEOUT and prints 'late' or 'missing'.
"""
import slixpeer
from slixpeer import emit

SERVICE = "pubsub.localhost"
NODE = "fleet/positions"


def position(lat):
    return slixpeer.geoloc([("lat", lat), ("lon", 13.4)])


def item_ids(iq):
    return [el.get("id") for el in iq.xml.iter("{http://jabber.org/protocol/pubsub}item")]


async def step(name, coro, **details):
    """Run one request, print its step line, return (outcome, iq/fields)."""
    how, res = await slixpeer.outcome(coro)
    fields = dict(details)
    if how == "error":
        fields.update(res)
    emit("step", name=name, outcome=how, **fields)
    return how, res


async def main(args):
    owner = slixpeer.Client(args, *args.user[0])
    watcher = slixpeer.Client(args, *args.user[1])
    for c in (owner, watcher):
        slixpeer.load_pubsub(c)
    log = slixpeer.EventLog(watcher, "start")
    await slixpeer.login_all([owner, watcher])
    for c in (owner, watcher):
        c.send_presence()
        await slixpeer.sync(c)
    ps = owner["xep_0060"]
    T = slixpeer.TIMEOUT

    async def closing(phase, expected=()):
        """End a phase: barrier, then wait for expected events still due."""
        await slixpeer.barrier(owner, watcher, f"end of {phase}")
        for what, fut in expected:
            if fut.done():
                continue
            try:
                await slixpeer.wait(fut, what)
                emit("late", phase=phase, what=what)
            except slixpeer.Failure:
                emit("missing", phase=phase, what=what)
        emit("marker", phase=phase)

    def expecting(what, pred):
        return (what, log.expect(pred))

    await step("create", ps.create_node(SERVICE, NODE, timeout=T))
    how, res = await step("publish p1", ps.publish(SERVICE, NODE, id="p1", payload=position(52.1), timeout=T))

    # subscribe: what arrives on subscription (the last item, or nothing).
    log.phase = "subscribe"
    how, res = await slixpeer.outcome(watcher["xep_0060"].subscribe(SERVICE, NODE, timeout=T))
    if how == "result":
        sub = res["pubsub"]["subscription"]
        emit("step", name="subscribe", outcome=how, jid=str(sub["jid"]), node=sub["node"],
             subscription=sub["subscription"], subid=sub["subid"])
    else:
        emit("step", name="subscribe", outcome=how, **res)
    await closing("subscribe")

    # publish: p2 and p3 are notified.
    log.phase = "publish"
    due = [expecting(f"event for {i}", lambda e, i=i: e["kind"] == "publish" and e.get("id") == i)
           for i in ("p2", "p3")]
    for i, lat in (("p2", 52.2), ("p3", 52.3)):
        await step(f"publish {i}", ps.publish(SERVICE, NODE, id=i, payload=position(lat), timeout=T))
    await closing("publish", due)

    how, res = await step("items", watcher["xep_0060"].get_items(SERVICE, NODE, timeout=T))
    if how == "result":
        emit("items", phase="publish", ids=item_ids(res))

    # What the watcher may not do (or, depending on the server, may).
    log.phase = "probes"
    wps = watcher["xep_0060"]
    how, _ = await step("probe create by watcher", wps.create_node(SERVICE, "watcher-node", timeout=T))
    if how == "result":
        await step("probe delete own node", wps.delete_node(SERVICE, "watcher-node", timeout=T))
    await step("probe publish by watcher", wps.publish(SERVICE, NODE, id="w1", payload=position(1), timeout=T))
    await step("probe retract by watcher", wps.retract(SERVICE, NODE, "p3", timeout=T))
    await step("probe purge by watcher", wps.purge(SERVICE, NODE, timeout=T))
    await step("probe configure by watcher", wps.get_node_config(SERVICE, NODE, timeout=T))
    await step("probe subscribe missing node", wps.subscribe(SERVICE, "no-such-node", timeout=T))
    await step("probe items missing node", wps.get_items(SERVICE, "no-such-node", timeout=T))
    await step("probe retract missing item", ps.retract(SERVICE, NODE, "no-such-item", timeout=T))
    await closing("probes")

    # retract p2 with notify.
    log.phase = "retract"
    due = [expecting("retract event for p2", lambda e: e["kind"] == "retract" and e.get("id") == "p2")]
    await step("retract p2", ps.retract(SERVICE, NODE, "p2", notify=True, timeout=T))
    await closing("retract", due)
    how, res = await step("items after retract", watcher["xep_0060"].get_items(SERVICE, NODE, timeout=T))
    if how == "result":
        emit("items", phase="retract", ids=item_ids(res))

    # purge.
    log.phase = "purge"
    due = [expecting("purge event", lambda e: e["kind"] == "purge")]
    await step("purge", ps.purge(SERVICE, NODE, timeout=T))
    await closing("purge", due)
    how, res = await step("items after purge", watcher["xep_0060"].get_items(SERVICE, NODE, timeout=T))
    if how == "result":
        emit("items", phase="purge", ids=item_ids(res))

    # unsubscribe; then a publish reaches the watcher no more.
    log.phase = "unsubscribed"
    await step("unsubscribe", watcher["xep_0060"].unsubscribe(SERVICE, NODE, timeout=T))
    how, res = await step("own subscriptions", watcher["xep_0060"].get_subscriptions(SERVICE, timeout=T))
    if how == "result":
        emit("subscriptions", nodes=[el.get("node") for el in
                                     res.xml.iter("{http://jabber.org/protocol/pubsub}subscription")])
    await step("publish p4", ps.publish(SERVICE, NODE, id="p4", payload=position(52.4), timeout=T))
    await step("delete", ps.delete_node(SERVICE, NODE, timeout=T))
    await closing("unsubscribed")

    await slixpeer.close_all([owner, watcher])


if __name__ == "__main__":
    slixpeer.run(main, slixpeer.parser(__doc__).parse_args())
