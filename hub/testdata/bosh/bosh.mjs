// bosh.mjs: StanzaJS over BOSH (XEP-0124, XEP-0206), as a browser client
// without WebSocket would connect; StanzaJS speaks BOSH with fetch, which
// Node 20 has. BOSH_URL is the hub's http://127.0.0.1:PORT/http-bind.
//
// Two StanzaJS clients of group fleet log in over BOSH: "device"
// (resource stanza-tracker) and "operator" (stanza-console), whose
// XEP-0115 caps carry geoloc+notify (StanzaJS's PEP plugin adds it). The
// device exchanges a message with the TCP client PEER_JID (a Go client the
// test runs), then publishes an XEP-0080 position to its own PEP node; the
// operator receives the notification. Both end their sessions.
//
// Environment: BOSH_URL, XMPP_DOMAIN, DEVICE_PASSWORD, OPERATOR_PASSWORD,
// PEER_JID; FIX_ID, FIX_LAT, FIX_LON, FIX_ACCURACY, FIX_SPEED,
// FIX_TIMESTAMP, the position.
//
// stdout, one JSON object a line, in order:
//   {"event":"online","device":JID,"operator":JID,"mechanism":...,"offered":[...]}
//   {"event":"sent","id":"bosh-1"}
//   {"event":"received","from":...,"id":...,"body":...}
//   {"event":"published","outcome":"result"|"error","id":...,"error":...}
//   {"event":"operator.event","from":...,"to":...,"lat":...,"lon":...,"accuracy":...,"speed":...,"timestamp":...}
//   {"event":"closed","device":bool,"operator":bool}   sessions ended by terminate

import * as XMPP from "stanza";
import { emit, env, log, run, withTimeout } from "./script.mjs";

// once resolves with the first event of client named ev that match accepts.
function once(client, ev, match, what) {
  return withTimeout(
    new Promise((resolve) => {
      const h = (data) => {
        if (match(data)) {
          client.off(ev, h);
          resolve(data);
        }
      };
      client.on(ev, h);
    }),
    what,
  );
}

// connect logs a StanzaJS client in over BOSH and resolves when its
// session has started. It records the SASL mechanisms the hub offered and
// the one the client chose, from the raw traffic.
async function connect(name, username, password, resource) {
  const domain = env("XMPP_DOMAIN");
  const client = XMPP.createClient({
    jid: `${username}@${domain}`,
    password,
    resource,
    server: domain,
    transports: { websocket: false, bosh: env("BOSH_URL") },
    useStreamManagement: false, // the hub does not offer it; keep the log plain
  });
  client.name = name;
  client.seen = { offered: [], mechanism: "" };
  client.on("raw", (direction, data) => {
    log(`${name} ${direction === "incoming" ? "<<<" : ">>>"} ${data}`);
    if (direction === "incoming") {
      for (const m of data.matchAll(/<mechanism>([^<]*)<\/mechanism>/g)) client.seen.offered.push(m[1]);
    } else {
      const m = data.match(/<auth [^>]*mechanism=["']([^"']+)["']/);
      if (m) client.seen.mechanism = m[1];
    }
  });
  client.on("stream:error", (err) => log(`${name} stream error: ${JSON.stringify(err)}`));
  const started = once(client, "session:started", () => true, `${name} to log in`);
  const failed = new Promise((_, reject) => client.on("auth:failed", () => reject(new Error(`${name}: authentication failed`))));
  client.connect();
  await Promise.race([started, failed]);
  return client;
}

// stop ends the session with a terminate body and resolves when the
// transport reports the end.
async function stop(client) {
  let terminated = false;
  client.on("bosh:terminate", () => (terminated = true));
  const ended = once(client, "--transport-disconnected", () => true, `${client.name} to disconnect`);
  client.disconnect();
  await ended;
  return terminated;
}

async function main() {
  const peer = env("PEER_JID");
  const domain = env("XMPP_DOMAIN");
  const device = await connect("device", "device", env("DEVICE_PASSWORD"), "stanza-tracker");
  const operator = await connect("operator", "operator", env("OPERATOR_PASSWORD"), "stanza-console");
  emit("online", {
    device: device.jid,
    operator: operator.jid,
    mechanism: device.seen.mechanism,
    offered: device.seen.offered,
  });

  // The operator announces its caps; the hub asks what they mean (disco#info,
  // which StanzaJS answers) before it sends any notification by them. The
  // pings order things: the hub answers in order.
  await operator.updateCaps();
  const asked = once(operator, "iq:get:disco", () => true, "the hub's disco#info question").catch(() => null);
  operator.sendPresence({ legacyCapabilities: operator.disco.getCaps() });
  await operator.ping(domain);
  await asked;
  await operator.ping(domain);
  const seen = once(operator, "available", (p) => p.from === device.jid, "the device's presence");
  device.sendPresence();
  await seen;

  // BOSH -> TCP, and back.
  device.sendMessage({ to: peer, type: "chat", id: "bosh-1", body: "hello over BOSH" });
  emit("sent", { id: "bosh-1" });
  const answer = await once(device, "message", (m) => m.from === peer && m.body, "the TCP client's answer");
  emit("received", { from: answer.from, id: answer.id || "", body: answer.body });

  // XEP-0080 through PEP: the device publishes, the operator is notified.
  const notified = once(operator, "geoloc", (e) => e.jid === `device@${domain}`, "the geoloc notification");
  let published;
  try {
    const res = await device.publishGeoLoc({
      id: env("FIX_ID"),
      latitude: Number(env("FIX_LAT")),
      longitude: Number(env("FIX_LON")),
      accuracy: Number(env("FIX_ACCURACY")),
      speed: Number(env("FIX_SPEED")),
      timestamp: new Date(env("FIX_TIMESTAMP")),
    });
    published = { outcome: "result", id: res?.id || "" };
  } catch (err) {
    published = { outcome: "error", error: JSON.stringify(err?.error || String(err)) };
  }
  emit("published", published);
  const ev = await notified;
  const g = ev.geoloc;
  emit("operator.event", {
    from: ev.jid,
    lat: g.latitude,
    lon: g.longitude,
    accuracy: g.accuracy,
    speed: g.speed,
    timestamp: g.timestamp instanceof Date ? g.timestamp.toISOString() : String(g.timestamp),
  });

  emit("closed", { device: await stop(device), operator: await stop(operator) });
}

run(main);
