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
// stream element if it came, with nothing if it did not.
export async function stop(...clients) {
  await Promise.all(
    clients.map(async (c) => {
      const closedByHub = await withTimeout(c.stop(), `${c.name} to stop`);
      c.session.hubClosedStream = Boolean(closedByHub);
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
