// Package hub is GeoHub's XMPP server (RFC 6120, RFC 6121): listeners (TCP,
// XMPP over WebSocket, RFC 7395, and over BOSH, XEP-0124 and XEP-0206, each
// as an http.Handler), stream
// negotiation with mellium, sessions, the router that delivers stanzas between
// full and bare JIDs and stamps their from, presence (with the resources of
// accounts online through another transport: SetRemotePresence), rosters, offline
// messages, message carbons (XEP-0280, carbons.go), every account's message
// archive (XEP-0313 with XEP-0359 stanza-ids: chatroute.go, mam*.go) and MAM
// on PEP nodes from the application's history (NodeHistory: a device's trail),
// service discovery, ping and version, the hub's own contact (the
// JID, geohub@<domain> by default: hubjid.go), federation with other
// servers (federation.go over hub/internal/s2s), and the limits that keep one
// bad peer from hurting the others. It knows nothing about geometry: the
// application above it (package tracking) registers pubsub payload
// handlers, answers the messages to the hub's JID through a MessageHandler
// (handler.go) and sends alerts from that JID with SendChat (hubchat.go).
//
// # mellium as a server
//
// mellium.im/xmpp v0.22.0 negotiates each stream. Where it falls short as a
// server (docs/mellium-server.md), the hub does this:
//
//  1. BindResource binds the JID the client claimed: bindFeature uses
//     BindCustom and binds the user SASL authenticated.
//  2. A bind error is sent inside a result: bindFeature never returns a
//     stanza.Error, and run accepts only the session bindFeature registered.
//  3. SASLServer never passes salted credentials to SCRAM: internal/scram is a
//     SCRAM server on stored keys, given its lookup directly.
//  4. sasl panics on *-PLUS: those are never offered (mellium answers
//     invalid-mechanism), and run recovers from panics per connection.
//  5. Session.Serve answers routed IQs itself: the hub never calls Serve; the
//     session's own read loop routes IQs.
//  6. mellium clients send an empty resource: an empty or invalid one gets a
//     generated resource.
//  7. RemoteAddr stays the claimed from: the hub never reads it.
//  8. from is stamped only on server-to-server output: every stanza a client
//     sends is stamped by the router (wire.AppendStamped).
//  9. No limits: negConn bounds the bytes read during negotiation, the
//     session's scanner bounds stanza size and depth.
//  10. The websocket package frames badly: WebSocketHandler (RFC 7395) uses
//     coder/websocket, and wsConn frames each element the hub writes as
//     one message itself, so mellium and the session see a plain stream.
//  11. Legacy session, stream management, BOSH, ...: the session request
//     is answered; BOSHHandler serves BOSH itself, and boshSession presents
//     each BOSH session as a net.Conn, as wsConn does for WebSocket. Stream
//     management (XEP-0198, sm.go) and client state indication (XEP-0352,
//     csi.go) are the hub's own: <enable/>, <r/>, <a/> and the client state
//     are handled by the session's read loop, and <resume/> by a stream
//     feature that takes the session over (sm_resume.go); mellium then goes
//     on reading features after a failed one, so a successful resume ends
//     its negotiation with an error the hub expects.
//  12. Feature negotiation fails on whitespace between top-level elements
//     (RFC 6120 §11.7 allows it; go-xmpp clients write a newline after
//     their header, <starttls/> and </auth>): negConn drops it before
//     mellium reads it (spaceFilter), and whitespace after <starttls/> is
//     skipped before the TLS handshake too. <starttls></starttls> with an
//     end tag (loudmouth) is read to its end before the handshake; anything
//     else sent before the handshake still ends the stream.
//
// The stream header carries xml:lang='en' from the first one on: mellium
// writes a header with the configuration its negotiator was built with.
//
// mellium also enforces a context deadline by setting a past deadline and
// clearing it at once, which a blocked read can miss, so the negotiation
// deadline is set on the connection instead; and it ends negotiation at the
// first SASL failure, so the hub runs the exchange again for retries.
package hub
