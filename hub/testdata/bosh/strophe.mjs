// strophe.mjs: strophe.js (the XMPP library of Converse.js and many web
// apps) over BOSH, in Node. strophe's BOSH speaks through XMLHttpRequest,
// which Node does not have, and reads the answer's responseXML, which npm's
// XMLHttpRequest packages do not build (xhr2 leaves it null, and strophe
// 5.0 then drops the answer): xhr.mjs is a small XMLHttpRequest over fetch
// that parses the answer with the DOMParser strophe's Node build installs
// (@xmldom/xmldom). BOSH_URL is the hub's http://127.0.0.1:PORT/http-bind.
//
// The device "device" (resource strophe-tracker) logs in, exchanges a
// message with the TCP client PEER_JID (a Go client the test runs),
// publishes an XEP-0080 position to its own PEP node and disconnects.
//
// Environment: BOSH_URL, XMPP_DOMAIN, DEVICE_PASSWORD, PEER_JID; FIX_ID,
// FIX_LAT, FIX_LON, FIX_ACCURACY, FIX_SPEED, FIX_TIMESTAMP, the position.
//
// stdout, one JSON object a line, in order:
//   {"event":"online","jid":...,"mechanism":...,"offered":[...]}
//   {"event":"sent","id":"strophe-1"}
//   {"event":"received","from":...,"id":...,"body":...}
//   {"event":"published","outcome":"result"|"error","id":...,"error":...}
//   {"event":"closed","terminated":bool}

import "./xhr.mjs";
import { $iq, $msg, $pres, Strophe } from "strophe.js";
import { emit, env, log, run, TIMEOUT, withTimeout } from "./script.mjs";

// strophe logs its debugging to stdout, which is the test's.
Strophe.setLogLevel(Strophe.LogLevel.WARN);

// connect logs in and resolves once connected; it rejects on a failure
// status first.
function connect(conn, jid, password) {
  return withTimeout(
    new Promise((resolve, reject) => {
      conn.connect(jid, password, (status, cond) => {
        log(`status ${status} ${cond || ""}`);
        if (status === Strophe.Status.CONNECTED) resolve();
        if (status === Strophe.Status.AUTHFAIL || status === Strophe.Status.CONNFAIL || status === Strophe.Status.ERROR) {
          reject(new Error(`connection failed: status ${status} ${cond || ""}`));
        }
      });
    }),
    "the login",
  );
}

async function main() {
  const domain = env("XMPP_DOMAIN");
  const peer = env("PEER_JID");
  const conn = new Strophe.Connection(env("BOSH_URL"));
  const seen = { offered: [], mechanism: "", terminated: false };
  conn.rawInput = (data) => {
    log(`<<< ${data}`);
    for (const m of data.matchAll(/<mechanism>([^<]*)<\/mechanism>/g)) seen.offered.push(m[1]);
    if (/type=["']terminate["']/.test(data)) seen.terminated = true;
  };
  conn.rawOutput = (data) => {
    log(`>>> ${data}`);
    const m = data.match(/<auth [^>]*mechanism=["']([^"']+)["']/);
    if (m) seen.mechanism = m[1];
  };
  await connect(conn, `device@${domain}/strophe-tracker`, env("DEVICE_PASSWORD"));
  emit("online", { jid: conn.jid, mechanism: seen.mechanism, offered: seen.offered });
  conn.send($pres());

  // BOSH -> TCP, and back.
  const answer = withTimeout(
    new Promise((resolve) => {
      conn.addHandler(
        (m) => {
          resolve(m);
          return false;
        },
        null,
        "message",
        null,
        null,
        peer,
      );
    }),
    "the TCP client's answer",
  );
  conn.send($msg({ to: peer, type: "chat", id: "strophe-1" }).c("body").t("hello from strophe"));
  emit("sent", { id: "strophe-1" });
  const m = await answer;
  emit("received", {
    from: m.getAttribute("from"),
    id: m.getAttribute("id") || "",
    body: m.getElementsByTagName("body")[0]?.textContent || "",
  });

  // XEP-0080 to the device's own PEP node (XEP-0163).
  const iq = $iq({ type: "set" })
    .c("pubsub", { xmlns: "http://jabber.org/protocol/pubsub" })
    .c("publish", { node: "http://jabber.org/protocol/geoloc" })
    .c("item", { id: env("FIX_ID") })
    .c("geoloc", { xmlns: "http://jabber.org/protocol/geoloc" });
  for (const [k, v] of Object.entries({
    lat: "FIX_LAT",
    lon: "FIX_LON",
    accuracy: "FIX_ACCURACY",
    speed: "FIX_SPEED",
    timestamp: "FIX_TIMESTAMP",
  })) {
    iq.c(k).t(env(v)).up();
  }
  const published = await withTimeout(
    new Promise((resolve) => {
      conn.sendIQ(
        iq,
        (res) => resolve({ outcome: "result", id: res.getElementsByTagName("item")[0]?.getAttribute("id") || "" }),
        (err) => resolve({ outcome: "error", error: err ? Strophe.serialize(err) : "timeout" }),
        TIMEOUT,
      );
    }),
    "the publish result",
  );
  emit("published", published);

  await withTimeout(
    new Promise((resolve) => {
      conn.connect_callback = (status) => {
        if (status === Strophe.Status.DISCONNECTED) resolve();
      };
      conn.disconnect("done");
    }),
    "the disconnect",
  );
  emit("closed", { terminated: seen.terminated });
}

run(main);
