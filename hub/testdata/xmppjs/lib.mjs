// Helpers shared by the scripts that hub/interop_xmppjs_test.go runs: they
// connect real @xmpp/client instances to a GeoHub and report what happened
// as JSON lines on stdout, one object per line, each with an "event" field.
// Everything else (the XML each client sends and receives, the reason for a
// failure) goes to stderr, which the Go test prints when it fails.
//
// Environment:
//   XMPP_SERVICE  xmpp://127.0.0.1:PORT (the hub's STARTTLS listener)
//   XMPP_DOMAIN   the hub's domain
//   XMPPJS_TIMEOUT_MS  bound on every wait (default 20000)
//   NODE_EXTRA_CA_CERTS  the hub's certificate, so that TLS is verified

import { client, xml } from "@xmpp/client";

export { xml };

export const TIMEOUT = Number(process.env.XMPPJS_TIMEOUT_MS || 20000);

// emit reports one observation to the Go test.
export function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

export function log(...args) {
  process.stderr.write(args.join(" ") + "\n");
}

// fail ends the script: a message on stderr and a non-zero exit status.
export function fail(msg) {
  log(`xmppjs FAILED: ${msg}`);
  process.exit(1);
}

export function env(name) {
  const v = process.env[name];
  if (!v) fail(`environment variable ${name} is not set`);
  return v;
}

// main runs fn with a watchdog, so that a script can never hang: the whole
// script gets a few waits' worth of time.
export function main(fn) {
  const watchdog = setTimeout(
    () => fail(`script did not finish in ${2.5 * TIMEOUT} ms`),
    2.5 * TIMEOUT,
  );
  fn().then(
    () => {
      clearTimeout(watchdog);
      process.exit(0);
    },
    (err) => fail(err?.stack || String(err)),
  );
}

// withTimeout rejects when promise does not settle in time.
export function withTimeout(promise, what, ms = TIMEOUT) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

// Inbox keeps every stanza a client receives until a wait takes it, so that
// a stanza that arrives before the script starts waiting for it is not lost.
class Inbox {
  constructor(name, entity) {
    this.name = name;
    this.pending = [];
    this.waiters = [];
    entity.on("stanza", (stanza) => {
      const i = this.waiters.findIndex((w) => w.match(stanza));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        w.resolve(stanza);
      } else {
        this.pending.push(stanza);
      }
    });
  }

  // wait returns the first stanza, received or to come, that match accepts.
  wait(what, match, ms = TIMEOUT) {
    const i = this.pending.findIndex(match);
    if (i >= 0) return Promise.resolve(this.pending.splice(i, 1)[0]);
    const waiter = { match };
    const p = new Promise((resolve) => {
      waiter.resolve = resolve;
    });
    this.waiters.push(waiter);
    return withTimeout(p, `${this.name}: ${what}`, ms).catch((err) => {
      const j = this.waiters.indexOf(waiter);
      if (j >= 0) this.waiters.splice(j, 1);
      err.message += `; received and not taken: ${
        this.pending.map(String).join(" ") || "nothing"
      }`;
      throw err;
    });
  }
}

// connect logs a new @xmpp/client in and resolves when it is online. With
// mechanism set, the client authenticates with that SASL mechanism and no
// other. The result is the client with some extras:
//   .name     the name used in logs
//   .inbox    an Inbox of everything received
//   .session  what was learnt during negotiation (see below)
//
// onClient, when given, is called with the client before it connects.
export async function connect(name, { username, password, resource, mechanism, onClient }) {
  const session = {
    offered: [], // SASL mechanisms the hub offered (from the features)
    usable: [], // offered and supported by the client, in its order
    authMechanism: "", // the mechanism of the <auth/> the client sent
    starttls: false, // the hub answered <starttls/> with <proceed/>
  };
  const xmpp = client({
    service: env("XMPP_SERVICE"),
    domain: env("XMPP_DOMAIN"),
    username,
    password,
    resource,
    timeout: TIMEOUT / 2, // for each negotiation step and for closing
    // With a function for credentials, @xmpp/client lets it choose the
    // mechanism (see @xmpp/client/lib/createOnAuthenticate.js).
    credentials: async (authenticate, usable) => {
      session.usable = usable;
      const mech = mechanism || usable[0];
      await authenticate({ username, password }, mech);
    },
  });
  xmpp.reconnect.stop(); // a test client never reconnects behind our back
  xmpp.name = name;
  xmpp.session = session;
  xmpp.inbox = new Inbox(name, xmpp);
  xmpp.on("element", (el) => {
    log(`${name} <<< ${el}`);
    if (el.is("features", "http://etherx.jabber.org/streams")) {
      const m = el.getChild("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl");
      if (m) session.offered = m.getChildren("mechanism").map((c) => c.text());
    }
    if (el.is("proceed", "urn:ietf:params:xml:ns:xmpp-tls")) session.starttls = true;
  });
  xmpp.on("send", (el) => {
    log(`${name} >>> ${el}`);
    if (el.is("auth", "urn:ietf:params:xml:ns:xmpp-sasl")) {
      session.authMechanism = el.attrs.mechanism;
    }
  });
  xmpp.on("status", (status) => log(`${name} status ${status}`));
  // Errors also reject start(); after it, an error ends the script.
  let online = false;
  xmpp.on("error", (err) => {
    log(`${name} error: ${err?.stack || err}`);
    if (online) fail(`${name}: ${err}`);
  });
  onClient?.(xmpp);
  try {
    await withTimeout(xmpp.start(), `${name} to come online`);
  } catch (err) {
    if (err && typeof err === "object") err.session = session;
    xmpp.socket?.end?.();
    throw err;
  }
  online = true;
  const tlsSocket = xmpp.socket?.socket;
  session.secure = xmpp.isSecure();
  session.tlsProtocol = tlsSocket?.getProtocol?.() || "";
  // Node verifies the chain and the name it was given as host, which
  // @xmpp/starttls sets to the domain: authorized means both passed.
  session.tlsAuthorized = tlsSocket?.authorized === true;
  session.tlsPeerNames = tlsSocket?.getPeerCertificate?.()?.subjectaltname || "";
  return xmpp;
}

// stop closes the stream and the connection. The hub must answer the
// client's </stream:stream> with its own (RFC 6120 §4.4): @xmpp/client waits
// for it (up to its timeout option) and its stop() resolves with the hub's
// stream element if it came, with nothing if it did not. It starts waiting
// only once its own footer's write has completed, so an answer that comes
// back before that shows as the stream closing ("close") before the client
// says "closing", and stop() resolves with nothing: that counts as answered.
export async function stop(...clients) {
  await Promise.all(
    clients.map(async (c) => {
      let closing = false;
      let answeredFirst = false;
      const onStatus = (status) => {
        closing ||= status === "closing";
        answeredFirst ||= status === "close" && !closing;
      };
      c.on("status", onStatus);
      const el = await withTimeout(c.stop(), `${c.name} to stop`);
      c.removeListener("status", onStatus);
      const closedByHub = Boolean(el) || answeredFirst;
      c.session.hubClosedStream = closedByHub;
      if (!closedByHub) {
        throw new Error(`${c.name}: the hub did not close its stream in answer to the client's`);
      }
    }),
  );
}

// Predicates for Inbox.wait.
export const is = {
  // A roster push (RFC 6121 §2.1.6) about jid.
  rosterPush: (jid) => (s) => {
    const item = s.getChild("query", "jabber:iq:roster")?.getChild("item");
    return s.is("iq") && s.attrs.type === "set" && item?.attrs.jid === jid;
  },
};

// rosterItem returns the attributes of a roster item as the test reports
// them.
export function rosterItem(item) {
  if (!item) return null;
  return {
    jid: item.attrs.jid,
    name: item.attrs.name || "",
    subscription: item.attrs.subscription || "",
    ask: item.attrs.ask || "",
    groups: item.getChildren("group").map((g) => g.text()),
  };
}

// ---------------------------------------------------------------------------
// Publish-subscribe (XEP-0060), PEP (XEP-0163) and entity capabilities
// (XEP-0115), for the pubsub*.mjs scripts. @xmpp/client has no pubsub or
// caps plugin, so the stanzas are written out here.

import { createHash } from "node:crypto";

export const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
export const NS_PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event";
export const NS_PUBSUB_OWNER = "http://jabber.org/protocol/pubsub#owner";
export const NS_PUBSUB_ERRORS = "http://jabber.org/protocol/pubsub#errors";
export const NS_GEOLOC = "http://jabber.org/protocol/geoloc";
export const NS_CAPS = "http://jabber.org/protocol/caps";
export const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
export const NS_DATA = "jabber:x:data";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

// capsVer is the XEP-0115 §5.1 verification string of a disco#info answer
// without forms: each identity as "category/type/lang/name<" in sorted
// order, then each feature as "feature<" in sorted order, hashed with
// SHA-1, in base64.
export function capsVer({ identities, features }) {
  const ids = identities.map((i) => `${i.category}/${i.type}/${i.lang || ""}/${i.name || ""}`).sort();
  const feats = [...features].sort();
  const s = ids.map((i) => i + "<").join("") + feats.map((f) => f + "<").join("");
  return createHash("sha1").update(s, "utf8").digest("base64");
}

// checkCapsVer checks capsVer against the worked example of XEP-0115 §5.2,
// so that a hash the hub refuses is not the script's own mistake.
export function checkCapsVer() {
  const ver = capsVer({
    identities: [{ category: "client", type: "pc", name: "Exodus 0.9.1" }],
    features: [
      "http://jabber.org/protocol/disco#info",
      "http://jabber.org/protocol/disco#items",
      "http://jabber.org/protocol/muc",
      "http://jabber.org/protocol/caps",
    ],
  });
  if (ver !== "QgayPKawpkPSDYmwT/WM94uAlu0=") fail(`capsVer of the XEP-0115 §5.2 example is ${ver}`);
}

// clientCaps describes a client with the given features (disco#info and
// caps are added), two identities (one with xml:lang, so that the hash
// covers every part of §5.1) and the caps node.
export function clientCaps(features, node = "https://geohub.test/xmppjs") {
  const identities = [
    { category: "client", type: "pc", name: "GeoHub console (xmpp.js)" },
    { category: "client", type: "pc", lang: "en", name: "GeoHub console" },
  ];
  const all = [...new Set([NS_DISCO_INFO, NS_CAPS, ...features])];
  return { node, identities, features: all, ver: capsVer({ identities, features: all }) };
}

function discoInfo(caps, node) {
  return xml(
    "query",
    { xmlns: NS_DISCO_INFO, node },
    ...caps.identities.map((i) =>
      xml("identity", { category: i.category, type: i.type, "xml:lang": i.lang, name: i.name }),
    ),
    ...caps.features.map((f) => xml("feature", { var: f })),
  );
}

// serveCaps makes c answer disco#info queries (XEP-0030) as caps says: for
// no node and for node#ver (XEP-0115 §6.2); other nodes are item-not-found.
// Call it before c sends presence with caps.
export function serveCaps(c, caps) {
  c.iqCallee.get(NS_DISCO_INFO, "query", (ctx) => {
    const node = ctx.element.attrs.node;
    if (node !== undefined && node !== `${caps.node}#${caps.ver}`) {
      return xml("error", { type: "cancel" }, xml("item-not-found", NS_STANZAS));
    }
    return discoInfo(caps, node);
  });
}

// ping asks the hub for a pong (XEP-0199). The hub handles a client's
// stanzas in order and writes its answers in order, so whatever the hub
// sends c because of what c sent before the ping arrives before the pong.
export async function ping(c, what = "ping") {
  await withTimeout(
    c.iqCaller.request(xml("iq", { type: "get", to: env("XMPP_DOMAIN") }, xml("ping", "urn:xmpp:ping"))),
    `${c.name}: answer to the ${what}`,
  );
}

// announceCaps sends available presence with a XEP-0115 <c/> element
// (children, if given, go in too) and waits until the hub knows c's
// features: when the hub asks the disco#info question (it must, for a
// verification string it has not seen), until c's answer (from serveCaps)
// is sent and a ping after it answered; otherwise until a ping after the
// presence is answered, which comes after any question the presence caused.
// It resolves with the questions the hub asked: [{from, node, answer}].
export async function announceCaps(c, caps, ...children) {
  const asked = [];
  const sent = [];
  const onStanza = (s) => {
    const q = s.is("iq") && s.attrs.type === "get" ? s.getChild("query", NS_DISCO_INFO) : null;
    if (!q) return;
    const entry = { from: s.attrs.from || "", node: q.attrs.node || "", answer: "" };
    asked.push(entry);
    sent.push(
      new Promise((resolve) => {
        const onSend = (el) => {
          if (el.is("iq") && el.attrs.id === s.attrs.id && el.attrs.type !== "get" && el.attrs.type !== "set") {
            c.removeListener("send", onSend);
            entry.answer = el.attrs.type;
            resolve();
          }
        };
        c.on("send", onSend);
      }),
    );
  };
  c.on("stanza", onStanza);
  try {
    await c.send(
      xml("presence", {}, ...children, xml("c", { xmlns: NS_CAPS, hash: "sha-1", node: caps.node, ver: caps.ver })),
    );
    await ping(c, "ping after the caps presence");
    if (sent.length > 0) {
      await withTimeout(Promise.all(sent), `${c.name}: the answer to the hub's disco#info question to be sent`);
      await ping(c, "ping after the disco#info answer");
    }
  } finally {
    c.removeListener("stanza", onStanza);
  }
  return asked;
}

// pubsubRequest sends an IQ with one <pubsub/> (namespace ns, NS_PUBSUB if
// not given) to `to` (no 'to' at all when empty: the account's own PEP
// service) and resolves with the outcome, never rejecting on an IQ error:
//   {type: "result", stanza}  or  {type: "error", error: errorOf(...)}
export async function pubsubRequest(c, { type, to, ns = NS_PUBSUB }, ...children) {
  const iq = xml("iq", { type, to: to || undefined }, xml("pubsub", { xmlns: ns }, ...children));
  try {
    const stanza = await withTimeout(c.iqCaller.request(iq), `${c.name}: answer to ${iq}`);
    return { type: "result", stanza };
  } catch (err) {
    if (err?.name !== "StanzaError") throw err;
    return { type: "error", error: errorOf(err) };
  }
}

// errorOf reports an IQ error both as @xmpp/client understands it (name,
// condition, text, type: what an application using the library sees) and
// as it was on the wire (the children of <error/> in order, the <text/>
// element and the pubsub#errors condition).
export function errorOf(err) {
  const el = err.element;
  const children = el ? el.getChildElements() : [];
  return {
    name: err.name,
    condition: err.condition || "",
    text: err.text || "",
    type: err.type || "",
    from: el?.parent?.attrs.from || "",
    wireText: el?.getChildText("text", NS_STANZAS) ?? "",
    app: children.find((ch) => ch.attrs.xmlns === NS_PUBSUB_ERRORS)?.name || "",
    children: children.map((ch) => `${ch.attrs.xmlns || ""} ${ch.name}`),
  };
}

// geolocEl makes an XEP-0080 <geoloc/> from an object of element texts.
export function geolocEl(fields) {
  return xml(
    "geoloc",
    { xmlns: NS_GEOLOC },
    ...Object.entries(fields).map(([k, v]) => xml(k, {}, String(v))),
  );
}

// payloadOf reports the payload of an item: its name, namespace, text and
// the text of each child element by name.
export function payloadOf(el) {
  if (!el) return null;
  const fields = {};
  for (const ch of el.getChildElements()) fields[ch.name] = ch.text();
  return { name: el.name, ns: el.attrs.xmlns || "", text: el.text(), fields };
}

// itemOf reports an <item/>: id, publisher and its payload.
export function itemOf(it) {
  return {
    id: it.attrs.id || "",
    publisher: it.attrs.publisher || "",
    payload: payloadOf(it.getChildElements()[0]),
  };
}

// isEvent matches a pubsub notification (XEP-0060 §7.1.2.1) from `from`.
export const isEvent = (from) => (s) =>
  s.is("message") && s.attrs.from === from && Boolean(s.getChild("event", NS_PUBSUB_EVENT));

// eventOf reports a notification message: addressing, the node, the items
// published and the ids retracted.
export function eventOf(m) {
  const ev = m.getChild("event", NS_PUBSUB_EVENT);
  const items = ev?.getChild("items");
  return {
    from: m.attrs.from || "",
    to: m.attrs.to || "",
    type: m.attrs.type || "",
    node: items?.attrs.node || "",
    items: (items?.getChildren("item") ?? []).map(itemOf),
    retracts: (items?.getChildren("retract") ?? []).map((r) => r.attrs.id || ""),
    other: (ev?.getChildElements() ?? []).filter((e) => e.name !== "items").map((e) => e.name),
  };
}

// takeAll removes and returns what c received so far that match accepts.
export function takeAll(c, match) {
  const taken = c.inbox.pending.filter(match);
  c.inbox.pending = c.inbox.pending.filter((s) => !match(s));
  return taken;
}
