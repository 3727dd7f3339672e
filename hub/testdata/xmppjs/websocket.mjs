// websocket.mjs: @xmpp/client over WebSocket (RFC 7395), as a browser
// client would connect. Run with node --experimental-websocket (Node 20 has
// the WebSocket global behind that flag), XMPP_SERVICE set to the hub's
// ws://127.0.0.1:PORT/xmpp-websocket.
//
// The device "device" logs in (the hub offers SCRAM only over plain ws://),
// exchanges a message with the TCP client PEER_JID (a Go client the test
// runs), publishes an XEP-0080 position to its own PEP node and logs out.
//
// Environment: DEVICE_PASSWORD, PEER_JID; FIX_ID, FIX_LAT, FIX_LON,
// FIX_ACCURACY, FIX_SPEED, FIX_TIMESTAMP, the position.
//
// stdout, in order:
//   {"event":"online","jid":...,"session":{...}}  (see lib.mjs)
//   {"event":"sent","id":"ws-1"}                    a message to PEER_JID went out
//   {"event":"received","from":...,"body":...,"id":...}  PEER_JID's answer
//   {"event":"published","outcome":"result"|"error","id":...,"error":{...}}
//   {"event":"closed","byHub":true}

import { NS_GEOLOC, connect, emit, env, geolocEl, main, pubsubRequest, stop, xml } from "./lib.mjs";

main(async () => {
  const peer = env("PEER_JID");
  const device = await connect("device", {
    username: "device",
    password: env("DEVICE_PASSWORD"),
    resource: "browser-tab",
  });
  emit("online", { jid: device.jid.toString(), session: device.session });

  await device.send(xml("presence"));
  await device.send(xml("message", { to: peer, type: "chat", id: "ws-1" }, xml("body", {}, "hello from a WebSocket")));
  emit("sent", { id: "ws-1" });
  const answer = await device.inbox.wait("the TCP client's answer", (s) => s.is("message") && s.attrs.from === peer);
  emit("received", { from: answer.attrs.from, id: answer.attrs.id || "", body: answer.getChildText("body") });

  const res = await pubsubRequest(
    device,
    { type: "set" },
    xml(
      "publish",
      { node: NS_GEOLOC },
      xml(
        "item",
        { id: env("FIX_ID") },
        geolocEl({
          lat: env("FIX_LAT"),
          lon: env("FIX_LON"),
          accuracy: env("FIX_ACCURACY"),
          speed: env("FIX_SPEED"),
          timestamp: env("FIX_TIMESTAMP"),
        }),
      ),
    ),
  );
  if (res.type === "error") {
    emit("published", { outcome: "error", error: res.error });
  } else {
    const item = res.stanza.getChild("pubsub", "http://jabber.org/protocol/pubsub")?.getChild("publish")?.getChild("item");
    emit("published", { outcome: "result", id: item?.attrs.id || "" });
  }

  await stop(device);
  emit("closed", { byHub: device.session.hubClosedStream });
});
