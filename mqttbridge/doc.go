// Package mqttbridge connects GeoHub to MQTT brokers (MQTT 3.1.1, with the
// Eclipse paho client): OwnTracks and plain JSON trackers in, positions,
// presence and alerts out.
//
// # In
//
// A location from a tracker becomes an XEP-0080 item published on the
// device's PEP geoloc node through the hub (hub.Server.PublishPEP), as if
// the device had published it over XMPP: the same checks, the same one
// write path in the geo engine (position, trail, fences, alerts, in one
// group-committed transaction) and the same notifications, so XMPP watchers
// see MQTT devices exactly like XMPP ones. Numeric readings (OwnTracks batt,
// a JSON telemetry topic) go to the XEP-0323 node urn:xmpp:iot:sensordata
// the same way. The bridge keeps no state of its own: accounts are the
// device store's, positions the geo engine's, online state the store's
// (the bridge only remembers when it last heard each device it holds
// online; see online.go).
//
// Each message is acknowledged to the broker (QoS 1 and 2, manual
// acknowledgement) only once what it carried is durable, or once it is
// known to be refused for good. With a persistent session (clean session
// off, the default) a fix the broker accepted therefore survives a restart
// of the hub, of the bridge or of the broker (with persistence on): the
// broker sends it again until the bridge has stored it. Redelivered fixes
// are idempotent: the same item ID, the same trail key.
//
// paho calls the message handler on its network goroutine, in order; the
// handler only hands the message to a bounded worker queue (sharded by
// topic, so a device's messages stay in order) and blocks when the queue
// is full: backpressure reaches the broker through TCP and the in-flight
// window instead of messages being dropped.
//
// # Out
//
// The latest position of every device (XMPP and MQTT alike, from the geo
// engine) is published retained on <prefix>/<device>/location, coalesced
// per device when the broker is slower than the fixes; device presence on
// <prefix>/<device>/status (retained); every alert on
// <prefix>/alerts/<fence or rule id>; and the hub's own state on
// <prefix>/status, with a last will that says offline. Everything the
// bridge publishes carries "_geohub": <origin> and lives under its prefix,
// and neither is ever ingested: no loops, even through broker bridges that
// rename topics.
//
// # Refused input
//
// A payload that is not JSON, lacks coordinates, has them out of range or
// of the wrong type is counted (Stats), logged with its topic (rate
// limited), acknowledged so that the broker does not send it again, and
// never stored.
package mqttbridge
