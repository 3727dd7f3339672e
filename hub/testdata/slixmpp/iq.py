"""Scenario 4: an IQ in a namespace the hub does not know, between clients.

bob registers a handler for <query xmlns='urn:example:geohub'/>; alice sends
an iq get with a question to bob's full JID and gets bob's answer. Then the
same query to addresses nobody can answer for: a resource bob does not have,
and bob's bare JID (which the hub answers for the account).

Prints: session per client; handled {who, from, to, type, id, question} at
bob; result {from, to, type, id, answer} at alice; error {target, type,
condition, error_type} for each unanswerable query.
"""
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

import slixpeer
from slixpeer import emit, expect, wait

NS = "urn:example:geohub"


def query(question=None, answer=None):
    q = ET.Element(f"{{{NS}}}query")
    if question is not None:
        ET.SubElement(q, f"{{{NS}}}question").text = question
    if answer is not None:
        ET.SubElement(q, f"{{{NS}}}answer").text = answer
    return q


def text(iq, child):
    el = iq.xml.find(f"{{{NS}}}query/{{{NS}}}{child}")
    return el.text if el is not None else None


def answer_queries(bob):
    """Answer gets in NS with the question read back, as a payload."""
    handled = expect(bob, "geohub_query")

    def handle(iq):
        if iq["type"] != "get":
            return
        bob.event("geohub_query", iq)
        reply = iq.reply(clear=True)
        reply.append(query(answer=f"42, you asked: {text(iq, 'question')}"))
        reply.send()

    bob.register_handler(Callback("geohub query", MatchXPath(f"{{{bob.default_ns}}}iq/{{{NS}}}query"), handle))
    return handled


def new_get(alice, to, question):
    iq = alice.Iq()
    iq["type"] = "get"
    iq["to"] = to
    iq.append(query(question=question))
    return iq


async def main(args):
    alice = slixpeer.Client(args, *args.user[0])
    bob = slixpeer.Client(args, *args.user[1])
    clients = [alice, bob]
    handled = answer_queries(bob)
    await slixpeer.login_all(clients)

    iq = new_get(alice, bob.boundjid, "where are you?")
    iq["id"] = "geo-1"
    res = await iq.send(timeout=slixpeer.TIMEOUT)
    got = await wait(handled, "query at bob")
    emit("handled", who="bob", question=text(got, "question"),
         **{k: str(got[k]) for k in ("from", "to", "type", "id")})
    emit("result", answer=text(res, "answer"),
         **{k: str(res[k]) for k in ("from", "to", "type", "id")})

    for target in (f"{bob.boundjid.bare}/elsewhere", bob.boundjid.bare):
        try:
            res = await new_get(alice, target, "anyone?").send(timeout=slixpeer.TIMEOUT)
            emit("error", target=target, type=res["type"], condition="", error_type="")
        except IqError as e:
            err = e.iq["error"]
            emit("error", target=target, type=e.iq["type"], condition=err["condition"],
                 error_type=err["type"], **{"from": str(e.iq["from"])})

    await slixpeer.close_all(clients)


if __name__ == "__main__":
    slixpeer.run(main, slixpeer.parser(__doc__).parse_args())
