// pubsub_last.mjs: the last published PEP item reaches a contact that comes
// online afterwards with geoloc+notify caps (XEP-0163 §4.3.4,
// send_last_published_item on_sub_and_presence). The @xmpp/client "device"
// (group fleet, resource js-tracker) publishes two positions, the first as
// item fix-old, the second without an id; then "operator" (group fleet,
// js-console) logs in and announces its caps.
//
// Environment: DEVICE_PASSWORD, OPERATOR_PASSWORD; OLD_LAT, OLD_LON,
// NEW_LAT, NEW_LON.
//
// stdout, in order:
//   {"event":"device.published","old":{...},"new":{...}}  each as outcome, id
//   {"event":"operator.caps","node":...,"ver":...,"asked":[...]}
//   {"event":"operator.event",...}            the first notification from the device
//   {"event":"operator.after-event","events":[...]}  any others, after a ping

import {
  NS_GEOLOC,
  NS_PUBSUB,
  announceCaps,
  checkCapsVer,
  clientCaps,
  connect,
  emit,
  env,
  eventOf,
  geolocEl,
  isEvent,
  main,
  ping,
  pubsubRequest,
  serveCaps,
  stop,
  takeAll,
  xml,
} from "./lib.mjs";

async function publish(device, id, lat, lon) {
  const res = await pubsubRequest(
    device,
    { type: "set" },
    xml("publish", { node: NS_GEOLOC }, xml("item", { id }, geolocEl({ lat, lon, accuracy: 10 }))),
  );
  if (res.type === "error") return { outcome: "error", error: res.error };
  const item = res.stanza.getChild("pubsub", NS_PUBSUB)?.getChild("publish")?.getChild("item");
  return { outcome: "result", id: item?.attrs.id || "" };
}

main(async () => {
  checkCapsVer();
  const device = await connect("device", { username: "device", password: env("DEVICE_PASSWORD"), resource: "js-tracker" });
  await device.send(xml("presence"));
  const old = await publish(device, "fix-old", env("OLD_LAT"), env("OLD_LON"));
  const last = await publish(device, undefined, env("NEW_LAT"), env("NEW_LON"));
  emit("device.published", { old, new: last });

  // Now the operator logs in and says it wants geoloc notifications.
  const caps = clientCaps([NS_GEOLOC + "+notify"]);
  const operator = await connect("operator", {
    username: "operator",
    password: env("OPERATOR_PASSWORD"),
    resource: "js-console",
  });
  serveCaps(operator, caps);
  const asked = await announceCaps(operator, caps);
  emit("operator.caps", { node: caps.node, ver: caps.ver, asked });

  const fromDevice = isEvent("device@localhost");
  emit("operator.event", eventOf(await operator.inbox.wait("the last geoloc item", fromDevice)));
  await ping(operator, "ping after the last item");
  emit("operator.after-event", { events: takeAll(operator, fromDevice).map(eventOf) });

  await stop(device, operator);
});
