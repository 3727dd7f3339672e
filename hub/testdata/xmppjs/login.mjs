// login.mjs: one @xmpp/client logs in over STARTTLS with the SASL mechanism
// XMPP_MECHANISM (its own choice when empty) and the resource XMPP_RESOURCE,
// pings the hub and logs out.
//
// stdout:
//   {"event":"client","mechanisms":[...]}  the SASL mechanisms @xmpp/client has
//   {"event":"online","jid":...,"session":{...}}  logged in (see lib.mjs)
//   {"event":"ping","type":"result"}       the hub answered a ping
//   {"event":"closed","byHub":true}        the hub closed the stream in answer
//   {"event":"login-failed","name":...,"condition":...,"session":{...}}
// A failed login is reported, and the script exits with status 3.

import { connect, emit, env, log, main, stop, withTimeout, xml } from "./lib.mjs";

main(async () => {
  const username = env("XMPP_USER");
  const mechanism = process.env.XMPP_MECHANISM || "";
  let xmpp;
  try {
    xmpp = await connect("login", {
      username,
      password: env("XMPP_PASSWORD"),
      resource: process.env.XMPP_RESOURCE || undefined,
      mechanism,
      // The factory (npm saslmechanisms) keeps what was registered in _mechs.
      onClient: (c) =>
        emit("client", { mechanisms: c.saslFactory._mechs.map((m) => m.name) }),
    });
  } catch (err) {
    emit("login-failed", {
      name: err?.name || "",
      condition: err?.condition || "",
      code: err?.code || "",
      message: String(err?.message || err),
      session: err?.session,
    });
    log(`login failed: ${err?.stack || err}`);
    process.exit(3);
  }
  emit("online", { jid: xmpp.jid.toString(), session: xmpp.session });
  const pong = await withTimeout(
    xmpp.iqCaller.request(xml("iq", { type: "get", to: env("XMPP_DOMAIN") }, xml("ping", "urn:xmpp:ping"))),
    "ping answer",
  );
  emit("ping", { type: pong.attrs.type, from: pong.attrs.from || "" });
  await stop(xmpp);
  emit("closed", { byHub: xmpp.session.hubClosedStream });
});
