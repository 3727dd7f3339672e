"""PEP publishes with publish-options through slixmpp's xep_0060, the way
OMEMO (XEP-0384) and bookmarks (XEP-0402) clients publish.

Users: --user NAME PW.

Each publish prints a 'step' line {name, outcome, ...}:
  bundle 1       new node, options persist_items=true, max_items=max,
                 access_model=open (creates it)
  bundle 2       the same options again: now preconditions on the node
  bookmark       new node with XEP-0402's options (persist_items, max,
                 send_last_published_item=never, whitelist)
  bookmark again the same, as preconditions
  default max    max_items=max as a precondition on a node made with the
                 defaults (one item): refused
then a 'config' line per node (the values of its configuration form) and an
'items' line with the ids of the bundles node.
"""
import slixpeer
from slixpeer import emit
from slixmpp.plugins.xep_0004 import Form

BUNDLES = "urn:xmpp:omemo:2:bundles"
BOOKMARKS = "urn:xmpp:bookmarks:1"
NS_EXAMPLE = "urn:example:options"
PUBLISH_OPTIONS = "http://jabber.org/protocol/pubsub#publish-options"


def options(**values):
    form = Form()
    form["type"] = "submit"
    form.add_field(var="FORM_TYPE", ftype="hidden", value=PUBLISH_OPTIONS)
    for name, value in values.items():
        form.add_field(var="pubsub#" + name, value=value)
    return form


def payload(text):
    el = slixpeer.ET.Element(f"{{{NS_EXAMPLE}}}x")
    el.text = text
    return el


async def main(args):
    c = slixpeer.Client(args, *args.user[0])
    slixpeer.load_pubsub(c)
    await slixpeer.login_all([c])
    own = c.boundjid.bare
    ps = c["xep_0060"]
    T = slixpeer.TIMEOUT

    async def publish(name, node, item_id, opts):
        how, res = await slixpeer.outcome(ps.publish(own, node, id=item_id, payload=payload(name), options=opts, timeout=T))
        fields = res if how == "error" else {}
        emit("step", name=name, outcome=how, **fields)

    omemo = dict(persist_items="true", max_items="max", access_model="open")
    await publish("bundle 1", BUNDLES, "1", options(**omemo))
    await publish("bundle 2", BUNDLES, "2", options(**omemo))
    bookmarks = dict(persist_items="true", max_items="max", send_last_published_item="never", access_model="whitelist")
    await publish("bookmark", BOOKMARKS, "room@muc.localhost", options(**bookmarks))
    await publish("bookmark again", BOOKMARKS, "other@muc.localhost", options(**bookmarks))
    await publish("default node", NS_EXAMPLE, "a", None)
    await publish("default max", NS_EXAMPLE, "b", options(max_items="max"))

    for node in (BUNDLES, BOOKMARKS, NS_EXAMPLE):
        how, res = await slixpeer.outcome(ps.get_node_config(own, node, timeout=T))
        if how == "result":
            form = res["pubsub_owner"]["configure"]["form"]
            emit("config", node=node, values={k: str(v) for k, v in form.get_values().items()})
        else:
            emit("config", node=node, **res)
    how, res = await slixpeer.outcome(ps.get_items(own, BUNDLES, timeout=T))
    if how == "result":
        emit("items", node=BUNDLES, ids=[el.get("id") for el in res.xml.iter("{http://jabber.org/protocol/pubsub}item")])
    await slixpeer.close_all([c])


if __name__ == "__main__":
    slixpeer.run(main, slixpeer.parser(__doc__).parse_args())
