"""Shared helpers for the slixmpp scripts that GeoHub's interop tests run.

Each script logs one or more slixmpp clients into a hub started by the Go
test, prints what it observed as one JSON object per line on stdout (the Go
test asserts on those), and exits non-zero with the reason on stderr when an
expected event does not come. Every wait is bounded by TIMEOUT.
"""
import argparse
import asyncio
import json
import logging
import os
import pathlib
import sys

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.features.feature_mechanisms import stanza as sasl_stanza
from slixmpp.xmlstream import ET

TIMEOUT = 20  # seconds, for each single wait
SCRIPT_TIMEOUT = 50  # seconds, for the whole script (the Go test allows 60)
DOMAIN = "localhost"


class Failure(Exception):
    """An expected event did not happen; the script exits 1."""


def emit(event, **fields):
    """Print one observation for the Go test."""
    print(json.dumps(dict(event=event, **fields)), flush=True)


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", required=True, help="hub address (loopback IP)")
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--cafile", required=True, help="PEM certificate to trust")
    p.add_argument("--direct-tls", action="store_true",
                   help="TLS from the first byte (XEP-0368) instead of STARTTLS")
    p.add_argument("--user", action="append", nargs=2, default=[],
                   metavar=("NAME", "PASSWORD"))
    return p


class Client(slixmpp.ClientXMPP):
    """A slixmpp client that only ever connects to the hub under test and
    checks the hub's certificate against the test's CA file."""

    def __init__(self, args, name, password, mech=None, resource="slixmpp"):
        super().__init__(f"{name}@{DOMAIN}/{resource}", password, sasl_mech=mech)
        self.name = name
        self.hub = (args.host, args.port)
        self.direct_tls = args.direct_tls
        # Verify the hub's self-signed certificate (hostname "localhost"
        # included) with its own file rather than turning verification off.
        self.ca_certs = pathlib.Path(args.cafile)
        self.auth_sent = []  # mechanism attribute of each <auth/> sent
        self.auth_failures = []  # condition of each SASL <failure/> received
        self.add_filter("out", self._spy_auth)
        self.register_plugin("xep_0199")  # ping

    def _spy_auth(self, stanza):
        if isinstance(stanza, sasl_stanza.Auth):
            self.auth_sent.append(stanza["mechanism"])
        return stanza

    async def get_dns_records(self, domain, port=None):
        # Work around slixmpp 1.8.3: even when connect() is given an address
        # it resolves the JID's domain and takes the port from that answer,
        # which is default_port (5222), not the one given. Answer with the
        # hub's loopback address so that no DNS is involved.
        return [(domain, self.hub[0], self.hub[1])]

    async def login(self, retry_password=None):
        """Connect and wait for the session to start. Returns (outcome,
        detail): ("ok", None), or the event that ended the attempt.

        With retry_password, a first failed authentication is not the end:
        like a user correcting a mistyped password, the client switches to
        retry_password, which slixmpp's next attempt on the same stream (with
        the next mechanism the hub offered) uses."""
        done = asyncio.get_running_loop().create_future()

        def settle(outcome, detail=None):
            if not done.done():
                done.set_result((outcome, detail))

        def failed_auth(failure):
            self.auth_failures.append(failure["condition"])
            if retry_password is not None and len(self.auth_failures) == 1:
                self.password = retry_password
            else:
                settle("failed_auth", failure["condition"])

        self.add_event_handler("session_start", lambda _: settle("ok"))
        self.add_event_handler("failed_auth", failed_auth)
        self.add_event_handler("failed_all_auth", lambda _: settle("failed_all_auth"))
        self.add_event_handler(
            "connection_failed", lambda e: settle("connection_failed", str(e)))
        self.add_event_handler(
            "ssl_invalid_chain", lambda e: settle("ssl_invalid_chain", str(e)))
        self.add_event_handler(
            "stream_error", lambda e: settle("stream_error", e["condition"]))
        self.add_event_handler(
            "disconnected", lambda r: settle("disconnected", str(r)))
        # The host name (not the IP) makes slixmpp check the certificate for
        # "localhost"; get_dns_records maps it to the hub's address.
        self.connect((DOMAIN, self.hub[1]), use_ssl=self.direct_tls)
        return await wait(done, f"{self.name}: login")

    def tls_version(self):
        ssl_object = self.transport.get_extra_info("ssl_object") if self.transport else None
        return ssl_object.version() if ssl_object else ""

    async def close(self):
        try:
            await asyncio.wait_for(self.disconnect(), TIMEOUT)
        except asyncio.TimeoutError:
            self.abort()


def expect(client, event, pred=lambda _: True):
    """Return a future for the first `event` on client whose data satisfies
    pred. Arm it before doing what causes the event."""
    fut = asyncio.get_running_loop().create_future()

    def handler(data):
        if fut.done():
            return
        try:
            if pred(data):
                fut.set_result(data)
        except Exception as e:  # slixmpp would only log it
            fut.set_exception(e)

    client.add_event_handler(event, handler)
    return fut


async def wait(fut, what):
    try:
        return await asyncio.wait_for(fut, TIMEOUT)
    except asyncio.TimeoutError:
        raise Failure(f"no {what} within {TIMEOUT}s") from None


async def login_all(clients):
    """Log every client in at once; any failure is fatal."""
    results = await asyncio.gather(*(c.login() for c in clients))
    for c, (outcome, detail) in zip(clients, results):
        if outcome != "ok":
            raise Failure(f"{c.name}: login failed: {outcome} {detail}")
        emit("session", who=c.name, jid=str(c.boundjid),
             mech=c.auth_sent[-1] if c.auth_sent else "", tls=c.tls_version())


async def close_all(clients):
    await asyncio.gather(*(c.close() for c in clients))


async def sync(client):
    """Ping the hub: once the answer is back, the hub has handled everything
    the client sent before."""
    await client["xep_0199"].ping(DOMAIN, timeout=TIMEOUT)


def run(main, args):
    """Run main(args) and turn failures into exit status 1."""
    level = logging.DEBUG if os.environ.get("GEOHUB_TEST_LOG") else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="slixmpp %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(asyncio.wait_for(main(args), SCRIPT_TIMEOUT))
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except asyncio.TimeoutError:
        print(f"FAIL: script did not finish within {SCRIPT_TIMEOUT}s", file=sys.stderr, flush=True)
        sys.exit(1)


# --- Publish-subscribe (XEP-0060), PEP (XEP-0163) and geoloc (XEP-0080) ---
# Used by the pubsub*.py scripts, which run against GeoHub and, as the
# reference, against a private Prosody; nothing here assumes which.

NS_GEOLOC = "http://jabber.org/protocol/geoloc"
NS_PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event"
NS_PUBSUB_ERRORS = "http://jabber.org/protocol/pubsub#errors"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"


def load_pubsub(client):
    """Load slixmpp's pubsub and PEP plugins (xep_0163 brings xep_0030,
    xep_0060 and xep_0115, which puts caps into every available presence)."""
    for plugin in ("xep_0030", "xep_0060", "xep_0115", "xep_0163"):
        client.register_plugin(plugin)


def geoloc(fields):
    """A <geoloc/> payload built by hand from (name, value) pairs in the
    order given (slixmpp's own xep_0080 stanza mangles timestamp,
    description and accuracy)."""
    el = ET.Element(f"{{{NS_GEOLOC}}}geoloc")
    for name, value in fields:
        ET.SubElement(el, f"{{{NS_GEOLOC}}}{name}").text = str(value)
    return el


def geoloc_fields(payload):
    """The text of each child of a <geoloc/> element, by name."""
    if payload is None or payload.tag != f"{{{NS_GEOLOC}}}geoloc":
        return None
    return {child.tag.split("}", 1)[1]: child.text for child in payload}


def error_fields(iq):
    """What an error reply says: condition, type, text and the pubsub
    application condition, if any."""
    err = iq["error"]
    app = ""
    for child in err.xml:
        if child.tag.startswith(f"{{{NS_PUBSUB_ERRORS}}}"):
            app = child.tag.split("}", 1)[1]
    return dict(condition=err["condition"], error_type=err["type"], text=err["text"], app=app)


async def outcome(coro):
    """Await an IQ; return ("result", iq) or ("error", error_fields)."""
    try:
        return "result", await coro
    except IqError as e:
        return "error", error_fields(e.iq)


class EventLog:
    """Every pubsub event notification a client receives, through slixmpp's
    xep_0060 events, each tagged with the phase of the script it came in
    and printed as an 'event' line."""

    def __init__(self, client, phase=""):
        self.client = client
        self.phase = phase
        self.events = []
        for kind in ("publish", "retract", "purge", "delete"):
            client.add_event_handler(f"pubsub_{kind}", lambda msg, kind=kind: self._note(kind, msg))

    def _note(self, kind, msg):
        ev = msg["pubsub_event"]
        rec = {"kind": kind, "from": str(msg["from"]), "to": str(msg["to"]),
               "type": msg["type"], "phase": self.phase}
        if kind in ("publish", "retract"):
            items = ev["items"]
            rec["node"] = items["node"]
            # Not `for item in items`: slixmpp is iterating over the same
            # stanza object while it calls this handler, and a nested loop
            # would reset its position (an endless loop).
            want = "item" if kind == "publish" else "retract"
            for child in items.xml:
                if child.tag == f"{{{NS_PUBSUB_EVENT}}}{want}":
                    rec["id"] = child.get("id", "")
                    if kind == "publish":
                        rec["geoloc"] = geoloc_fields(child[0] if len(child) else None)
                        rec["publisher"] = child.get("publisher", "")
        else:
            rec["node"] = ev[kind]["node"]
        self.events.append(rec)
        emit("event", who=self.client.name, resource=self.client.boundjid.resource, **rec)
        self.client.event("geohub_pubsub_event", rec)

    def expect(self, pred):
        """Future for the next event record satisfying pred."""
        return expect(self.client, "geohub_pubsub_event", pred)


async def barrier(sender, receiver, label):
    """sender sends receiver a chat message and waits until it is there:
    whatever the server routed to receiver before it has arrived by then
    (used to show that a notification did not come, without sleeping)."""
    got = expect(receiver, "message", lambda m: m["body"] == label)
    sender.send_message(mto=receiver.boundjid.full, mbody=label, mtype="chat")
    await wait(got, f"marker {label!r} at {receiver.name}")


async def subscribe_both(a, b):
    """a and b subscribe to each other's presence, approved by hand (set
    auto_authorize None before login). For servers without shared groups,
    where this is how a contact gets to see PEP events. Both become
    available first: requests are delivered to available resources that
    asked for the roster (RFC 6121 §3.1.3)."""
    for c in (a, b):
        await c.get_roster(timeout=TIMEOUT)
        c.send_presence()
        await sync(c)
    for x, y in ((a, b), (b, a)):
        request = expect(y, "roster_subscription_request", lambda p, x=x: p["from"].bare == x.boundjid.bare)
        approved = expect(x, "presence_subscribed", lambda p, y=y: p["from"].bare == y.boundjid.bare)
        x.send_presence_subscription(pto=y.boundjid.bare)
        await wait(request, f"subscription request from {x.name} at {y.name}")
        y.send_presence(pto=x.boundjid.bare, ptype="subscribed")
        await wait(approved, f"'subscribed' from {y.name} at {x.name}")
        emit("subscribed", who=x.name, to=y.boundjid.bare)


async def announce_interest(client, namespaces, askers):
    """Advertise <ns>+notify for namespaces through XEP-0115 caps in an
    available presence, and wait until every JID in askers has asked for
    (and been sent) the caps' disco#info; then sync so that the server has
    taken the answers in. Prints a 'caps_answered' line per answer."""
    for ns in namespaces:
        client["xep_0163"].add_interest(ns)
    # add_interest recomputes the caps in a task of its own; wait for it.
    await client["xep_0115"].update_caps(broadcast=False)
    ver = await client["xep_0115"].get_verstring()
    pending = {a: asyncio.get_running_loop().create_future() for a in askers}

    def spy(stanza):
        if (isinstance(stanza, slixmpp.Iq) and stanza["type"] == "result"
                and stanza.xml.find(f"{{{NS_DISCO_INFO}}}query") is not None):
            to = str(stanza["to"])
            node = stanza.xml.find(f"{{{NS_DISCO_INFO}}}query").get("node", "")
            fut = pending.get(to)
            if fut is not None and not fut.done() and node.endswith("#" + ver):
                emit("caps_answered", who=client.name, to=to, node=node)
                fut.set_result(node)
        return stanza

    client.add_filter("out", spy)
    client.send_presence()
    try:
        for asker, fut in pending.items():
            await wait(fut, f"caps disco#info query from {asker} at {client.name}")
    finally:
        client.del_filter("out", spy)
    await sync(client)
