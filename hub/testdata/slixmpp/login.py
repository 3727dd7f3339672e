"""Scenario 1: log in, with one SASL mechanism forced (--mech) or not.

On success: ping the hub, then send a chat message to --notify (a Go client
waiting in the test), so the hub side can check the bound JID too. On
failure: report how the login ended and that the stream closed. With
--retry-password, a first failure is followed by a retry on the same stream.

Prints: login {outcome, condition, auth_sent, auth_failures, plugin_mech,
jid, tls}, then ping {ok} and sent {to, body} on success, or
closed {auth_sent} on failure.
"""
import slixpeer
from slixpeer import emit, expect, wait


async def main(args):
    name, password = args.user[0]
    c = slixpeer.Client(args, name, password, mech=args.mech)
    closed = expect(c, "disconnected")
    outcome, detail = await c.login(retry_password=args.retry_password)
    chosen = c["feature_mechanisms"].mech
    emit("login", who=name, outcome=outcome, condition=detail or "",
         auth_sent=c.auth_sent, auth_failures=c.auth_failures, plugin_mech=chosen.name if chosen else "",
         jid=str(c.boundjid) if outcome == "ok" else "", tls=c.tls_version())
    if outcome != "ok":
        await wait(closed, "end of the stream after the failed login")
        emit("closed", auth_sent=c.auth_sent)
        return
    await c["xep_0199"].ping(slixpeer.DOMAIN, timeout=slixpeer.TIMEOUT)
    emit("ping", ok=True)
    if args.notify:
        body = f"logged in with {c.auth_sent[-1]}"
        msg = c.make_message(mto=args.notify, mbody=body, mtype="chat")
        msg["id"] = "login-1"
        msg.send()
        # The ping answer proves the hub has read the message before we go.
        await slixpeer.sync(c)
        emit("sent", to=args.notify, body=body)
    await c.close()


if __name__ == "__main__":
    p = slixpeer.parser(__doc__)
    p.add_argument("--mech", help="SASL mechanism to force")
    p.add_argument("--notify", help="full JID to send a message to once logged in")
    p.add_argument("--retry-password",
                   help="after a first failed attempt, retry on the same stream with this password")
    slixpeer.run(main, p.parse_args())
