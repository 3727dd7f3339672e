package xmlnode

// Names and namespaces that every position, reading and presence carries
// are handed out from here instead of allocated anew for each element.
var known = map[string]string{}

func init() {
	for _, s := range []string{
		// namespaces
		"jabber:client", "jabber:server", "jabber:component:accept",
		"http://jabber.org/protocol/pubsub", "http://jabber.org/protocol/pubsub#event",
		"http://jabber.org/protocol/pubsub#owner", "http://jabber.org/protocol/geoloc",
		"urn:xmpp:iot:sensordata", "urn:ietf:params:xml:ns:xmpp-stanzas",
		"http://jabber.org/protocol/caps", "urn:xmpp:delay", "urn:xmpp:sm:3",
		"urn:xmpp:receipts", "urn:xmpp:ping", "jabber:iq:roster",
		// stanzas and pubsub
		"iq", "message", "presence", "body", "show", "status", "priority", "error",
		"pubsub", "publish", "items", "item", "event", "retract", "subscribe",
		"options", "publish-options", "x", "field", "value", "c", "delay", "ping",
		// attributes
		"id", "type", "to", "from", "node", "jid", "var", "hash", "ver", "lang",
		"set", "get", "result",
		// XEP-0080
		"geoloc", "lat", "lon", "alt", "accuracy", "speed", "bearing", "timestamp",
		"altaccuracy", "datum", "description", "country", "locality", "street", "text", "uri",
		// XEP-0323 readings
		"fields", "numeric", "boolean", "string", "name", "unit", "momentary",
	} {
		known[s] = s
	}
}

// intern returns b as a string, the shared one when it is a known name.
func intern(b []byte) string {
	if s, ok := known[string(b)]; ok {
		return s
	}
	return string(b)
}
