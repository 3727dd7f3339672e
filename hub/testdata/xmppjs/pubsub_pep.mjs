// pubsub_pep.mjs: XEP-0080 positions through PEP (XEP-0163) between two
// @xmpp/client users of group fleet: "device" (resource js-tracker) publishes
// to its own geoloc node; "operator" (js-console) asked for geoloc
// notifications with XEP-0115 caps and receives them.
//
// Environment: DEVICE_PASSWORD, OPERATOR_PASSWORD; FIX_LAT, FIX_LON,
// FIX_ACCURACY, FIX_SPEED, FIX_TIMESTAMP, the position published as item
// FIX_ID; with BAD_LON set, a second publish (item fix-bad) has that lon.
//
// stdout, in order:
//   {"event":"online","device":JID,"operator":JID}
//   {"event":"operator.caps","node":...,"ver":...,"asked":[{from,node,answer}]}
//   {"event":"operator.device-presence","from":...}
//   {"event":"device.published","outcome":"result"|"error","id":...,"node":...,"error":{...}}
//   {"event":"operator.event",...}          the notification (see eventOf in lib.mjs)
//   {"event":"operator.after-event","events":[...]}  notifications that came besides it
// and with BAD_LON:
//   {"event":"device.invalid","outcome":...,"error":{...}}  (see errorOf)
//   {"event":"operator.after-invalid","events":[...]}  notifications since
//   {"event":"device.items","ids":[...],"items":[...]}  the node afterwards

import {
  NS_GEOLOC,
  announceCaps,
  checkCapsVer,
  clientCaps,
  connect,
  emit,
  env,
  eventOf,
  geolocEl,
  isEvent,
  itemOf,
  main,
  ping,
  pubsubRequest,
  serveCaps,
  stop,
  takeAll,
  xml,
} from "./lib.mjs";

const presenceFrom = (bare) => (s) =>
  s.is("presence") && !s.attrs.type && (s.attrs.from || "").split("/")[0] === bare;

function publishOutcome(res) {
  if (res.type === "error") return { outcome: "error", error: res.error };
  const publish = res.stanza.getChild("pubsub", "http://jabber.org/protocol/pubsub")?.getChild("publish");
  return {
    outcome: "result",
    from: res.stanza.attrs.from || "",
    node: publish?.attrs.node || "",
    id: publish?.getChild("item")?.attrs.id || "",
  };
}

main(async () => {
  checkCapsVer();
  const fix = {
    lat: env("FIX_LAT"),
    lon: env("FIX_LON"),
    accuracy: env("FIX_ACCURACY"),
    speed: env("FIX_SPEED"),
    timestamp: env("FIX_TIMESTAMP"),
  };
  const caps = clientCaps([NS_GEOLOC + "+notify"]);

  const operator = await connect("operator", {
    username: "operator",
    password: env("OPERATOR_PASSWORD"),
    resource: "js-console",
  });
  serveCaps(operator, caps);
  const device = await connect("device", { username: "device", password: env("DEVICE_PASSWORD"), resource: "js-tracker" });
  emit("online", { device: device.jid.toString(), operator: operator.jid.toString() });

  // The operator says it wants geoloc notifications, and answers the hub's
  // question about what its hash stands for.
  const asked = await announceCaps(operator, caps);
  emit("operator.caps", { node: caps.node, ver: caps.ver, asked });

  // The device comes online; the operator sees it (shared group fleet).
  await device.send(xml("presence"));
  const p = await operator.inbox.wait("the device's presence", presenceFrom("device@localhost"));
  emit("operator.device-presence", { from: p.attrs.from || "" });

  // Publish to its own PEP node: no 'to' (XEP-0163 §3).
  const res = await pubsubRequest(
    device,
    { type: "set" },
    xml("publish", { node: NS_GEOLOC }, xml("item", { id: env("FIX_ID") }, geolocEl(fix))),
  );
  emit("device.published", publishOutcome(res));

  const fromDevice = isEvent("device@localhost");
  emit("operator.event", eventOf(await operator.inbox.wait("the geoloc notification", fromDevice)));
  await ping(operator, "ping after the notification");
  emit("operator.after-event", { events: takeAll(operator, fromDevice).map(eventOf) });

  if (process.env.BAD_LON) {
    const bad = await pubsubRequest(
      device,
      { type: "set" },
      xml("publish", { node: NS_GEOLOC }, xml("item", { id: "fix-bad" }, geolocEl({ ...fix, lon: process.env.BAD_LON }))),
    );
    emit("device.invalid", publishOutcome(bad));
    // The hub answers a publish and sends its notifications in one go: a
    // ping the operator sends once the device has its answer is answered
    // after any notification.
    await ping(operator, "ping after the invalid publish");
    emit("operator.after-invalid", { events: takeAll(operator, fromDevice).map(eventOf) });

    const items = await pubsubRequest(device, { type: "get" }, xml("items", { node: NS_GEOLOC }));
    if (items.type === "error") {
      emit("device.items", { ids: null, error: items.error });
    } else {
      const list = (items.stanza.getChild("pubsub")?.getChild("items")?.getChildren("item") ?? []).map(itemOf);
      emit("device.items", { ids: list.map((i) => i.id), items: list });
    }
  }

  await stop(device, operator);
});
