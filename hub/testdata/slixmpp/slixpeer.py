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
from slixmpp.features.feature_mechanisms import stanza as sasl_stanza

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
