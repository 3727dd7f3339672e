// Package xmpptest has XMPP clients for tests: one that logs in with mellium
// and collects what it receives as decoded nodes, and a raw one that writes
// and reads bytes for the tests of bad input. They talk to a hub only over
// the wire.
package xmpptest

import (
	"encoding/xml"
	"strings"
)

// Node is a received element, decoded generically.
type Node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []Node     `xml:",any"`
	Text    string     `xml:",chardata"`
}

// Attr returns the value of the unqualified attribute name.
func (n *Node) Attr(name string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attrs {
		if a.Name.Local == name && (a.Name.Space == "" || name == "lang") {
			return a.Value
		}
	}
	return ""
}

// Child returns the first child with the local name (and namespace, when
// space is not empty), or nil.
func (n *Node) Child(space, local string) *Node {
	if n == nil {
		return nil
	}
	for i := range n.Nodes {
		c := &n.Nodes[i]
		if c.XMLName.Local == local && (space == "" || c.XMLName.Space == space) {
			return c
		}
	}
	return nil
}

// Find follows a path of local names ("query/item") and returns the first
// match, or nil.
func (n *Node) Find(path string) *Node {
	cur := n
	for _, p := range strings.Split(path, "/") {
		cur = cur.Child("", p)
		if cur == nil {
			return nil
		}
	}
	return cur
}

// All returns the children with the local name.
func (n *Node) All(local string) []*Node {
	var out []*Node
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == local {
			out = append(out, &n.Nodes[i])
		}
	}
	return out
}

// Name is the element's local name.
func (n *Node) Name() string { return n.XMLName.Local }

// ErrorCondition returns the defined condition of a stanza error, or "".
func (n *Node) ErrorCondition() string {
	e := n.Child("", "error")
	if e == nil {
		return ""
	}
	for _, c := range e.Nodes {
		if c.XMLName.Space == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.XMLName.Local != "text" {
			return c.XMLName.Local
		}
	}
	return ""
}

// String renders the node roughly as XML, for failure messages.
func (n *Node) String() string {
	if n == nil {
		return "<nil>"
	}
	var b strings.Builder
	b.WriteString("<" + n.XMLName.Local)
	if n.XMLName.Space != "" && n.XMLName.Space != "jabber:client" {
		b.WriteString(" xmlns='" + n.XMLName.Space + "'")
	}
	for _, a := range n.Attrs {
		if a.Name.Local == "xmlns" && a.Name.Space == "" {
			continue // written above
		}
		b.WriteString(" " + a.Name.Local + "='" + a.Value + "'")
	}
	b.WriteString(">")
	b.WriteString(strings.TrimSpace(n.Text))
	for i := range n.Nodes {
		b.WriteString(n.Nodes[i].String())
	}
	b.WriteString("</" + n.XMLName.Local + ">")
	return b.String()
}
