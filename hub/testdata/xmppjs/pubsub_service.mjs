// pubsub_service.mjs: a node on the pubsub service (XEP-0060) between two
// @xmpp/client users: "dispatch" (an operator, resource js-dispatch) creates
// node NODE on SERVICE and publishes to it; "watcher" (js-watcher)
// subscribes with its bare JID, receives the notifications, reads the
// items, sees a retraction, and unsubscribes.
//
// Environment: DISPATCH_PASSWORD, WATCHER_PASSWORD, SERVICE, NODE.
//
// stdout, in order:
//   {"event":"online","dispatch":JID,"watcher":JID}
//   {"event":"dispatch.created","outcome":...}
//   {"event":"watcher.subscribed","outcome":...,"subscription":{node,jid,subid,subscription}}
//   {"event":"watcher.after-subscribe","events":[...]}   notifications right after (none: the node is empty)
//   {"event":"dispatch.published","outcome":...,"id":...}  for n1, then n2
//   {"event":"watcher.event",...}                          twice, in the order they came
//   {"event":"watcher.items","max":"1"|"","outcome":...,"items":[...]}  max_items=1, then all
//   {"event":"dispatch.retracted","outcome":...}
//   {"event":"watcher.retract-event",...}
//   {"event":"watcher.unsubscribed","outcome":...}
//   {"event":"watcher.subscriptions","outcome":...,"nodes":[...]}  its subscriptions afterwards
//   {"event":"dispatch.published","outcome":...,"id":...}  n3
//   {"event":"watcher.after-unsubscribe","events":[...]}  notifications since the unsubscribe
// An outcome is "result" or "error" (then with "error", see errorOf).

import {
  NS_DATA,
  NS_PUBSUB,
  connect,
  emit,
  env,
  eventOf,
  isEvent,
  itemOf,
  main,
  ping,
  pubsubRequest,
  stop,
  takeAll,
  xml,
} from "./lib.mjs";

const NS_NOTICE = "urn:geohub:interop:notice";

function outcome(res, more = () => ({})) {
  if (res.type === "error") return { outcome: "error", error: res.error };
  return { outcome: "result", from: res.stanza.attrs.from || "", ...more(res.stanza.getChild("pubsub", NS_PUBSUB)) };
}

main(async () => {
  const service = env("SERVICE");
  const node = env("NODE");
  const [dispatch, watcher] = await Promise.all([
    connect("dispatch", { username: "dispatch", password: env("DISPATCH_PASSWORD"), resource: "js-dispatch" }),
    connect("watcher", { username: "watcher", password: env("WATCHER_PASSWORD"), resource: "js-watcher" }),
  ]);
  // Available, so that notifications to the bare JID reach the watcher.
  await Promise.all([dispatch.send(xml("presence")), watcher.send(xml("presence"))]);
  emit("online", { dispatch: dispatch.jid.toString(), watcher: watcher.jid.toString() });

  // Create and configure (XEP-0060 §8.1.3).
  const form = xml(
    "x",
    { xmlns: NS_DATA, type: "submit" },
    xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, "http://jabber.org/protocol/pubsub#node_config")),
    xml("field", { var: "pubsub#title" }, xml("value", {}, "Dispatch notices")),
    xml("field", { var: "pubsub#max_items" }, xml("value", {}, "5")),
  );
  emit(
    "dispatch.created",
    outcome(
      await pubsubRequest(dispatch, { type: "set", to: service }, xml("create", { node }), xml("configure", {}, form)),
      (ps) => ({ node: ps?.getChild("create")?.attrs.node || "" }),
    ),
  );

  // Subscribe with the bare JID (XEP-0060 §6.1).
  const bare = watcher.jid.bare().toString();
  emit(
    "watcher.subscribed",
    outcome(await pubsubRequest(watcher, { type: "set", to: service }, xml("subscribe", { node, jid: bare })), (ps) => {
      const s = ps?.getChild("subscription");
      return {
        subscription: s && {
          node: s.attrs.node || "",
          jid: s.attrs.jid || "",
          subid: s.attrs.subid || "",
          subscription: s.attrs.subscription || "",
        },
      };
    }),
  );
  const fromService = isEvent(service);
  await ping(watcher, "ping after subscribing");
  emit("watcher.after-subscribe", { events: takeAll(watcher, fromService).map(eventOf) });

  const publish = async (id, text) =>
    emit(
      "dispatch.published",
      outcome(
        await pubsubRequest(
          dispatch,
          { type: "set", to: service },
          xml("publish", { node }, xml("item", { id }, xml("notice", { xmlns: NS_NOTICE }, text))),
        ),
        (ps) => ({ id: ps?.getChild("publish")?.getChild("item")?.attrs.id || "" }),
      ),
    );
  await publish("n1", "road closed at gate 4");
  await publish("n2", "gate 4 open again");
  for (let i = 1; i <= 2; i++) {
    emit("watcher.event", eventOf(await watcher.inbox.wait(`notification ${i}`, fromService)));
  }

  // Retrieve (XEP-0060 §6.5): the last one, then all.
  for (const max of ["1", ""]) {
    emit("watcher.items", {
      max,
      ...outcome(
        await pubsubRequest(watcher, { type: "get", to: service }, xml("items", { node, max_items: max || undefined })),
        (ps) => ({ items: (ps?.getChild("items")?.getChildren("item") ?? []).map(itemOf) }),
      ),
    });
  }

  // Retract with notification (XEP-0060 §7.2).
  emit(
    "dispatch.retracted",
    outcome(
      await pubsubRequest(dispatch, { type: "set", to: service }, xml("retract", { node, notify: "true" }, xml("item", { id: "n1" }))),
    ),
  );
  emit("watcher.retract-event", eventOf(await watcher.inbox.wait("the retract notification", fromService)));

  // Unsubscribe (XEP-0060 §6.2); further items no longer come.
  emit(
    "watcher.unsubscribed",
    outcome(await pubsubRequest(watcher, { type: "set", to: service }, xml("unsubscribe", { node, jid: bare }))),
  );
  emit(
    "watcher.subscriptions",
    outcome(await pubsubRequest(watcher, { type: "get", to: service }, xml("subscriptions")), (ps) => ({
      nodes: (ps?.getChild("subscriptions")?.getChildren("subscription") ?? []).map((s) => s.attrs.node || ""),
    })),
  );
  await publish("n3", "after the unsubscribe");
  // The hub answers a publish and sends its notifications in one go: a
  // ping the watcher sends once dispatch has its answer is answered after
  // any notification.
  await ping(watcher, "ping after the publish that follows the unsubscribe");
  emit("watcher.after-unsubscribe", { events: takeAll(watcher, fromService).map(eventOf) });

  await stop(dispatch, watcher);
});
