// Package tracking is GeoHub's geo application above the XMPP server
// (package hub): it hands the XEP-0080 geolocation and XEP-0323 sensor
// payloads published over pubsub to the geo engine (package geoloc),
// delivers the engine's alerts (a chat message from the hub's JID and an
// item on the pubsub alert nodes), keeps the alert nodes of the fences and
// threshold rules, runs the dwell sweep and answers chat commands. hub
// knows none of this: it offers the hooks (payload handlers on its pubsub
// service, a MessageHandler, SendChat) and the application uses them.
package tracking
