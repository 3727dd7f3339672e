// Package firmwaresim simulates fleets of devices that talk to a hub the
// way real firmware does, over the wire only: XMPP clients (mellium) that
// publish XEP-0080 fixes and XEP-0323 readings to their PEP nodes, or MQTT
// clients (paho) that publish OwnTracks JSON. Devices move along random
// roads, waypoints or routes, reconnect with backoff, queue fixes while
// offline, and can misbehave on purpose (dropped connections, pauses,
// invalid fixes) so that the hub's handling of each is measured.
//
// It imports nothing of the hub: a scenario, a list of accounts and an
// address are all it needs.
package firmwaresim
