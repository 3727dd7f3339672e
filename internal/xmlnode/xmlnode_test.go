package xmlnode

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"testing"
)

// stdTree decodes doc with encoding/xml into the same shape, as the oracle.
func stdTree(doc []byte, defaultNS string) (*Node, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	d.DefaultSpace = defaultNS
	var stack []*Node
	var root *Node
	for {
		tok, err := d.Token()
		if err != nil {
			if root != nil && len(stack) == 0 {
				return root, nil
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &Node{Space: t.Name.Space, Local: t.Name.Local}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
					continue
				}
				n.Attrs = append(n.Attrs, Attr{Space: a.Name.Space, Local: a.Name.Local, Value: a.Value})
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, n)
			} else if root == nil {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += string(t)
			}
		}
	}
}

func render(n *Node) string {
	if n == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "{%s}%s", n.Space, n.Local)
	for _, a := range n.Attrs {
		fmt.Fprintf(&b, " {%s}%s=%q", a.Space, a.Local, a.Value)
	}
	fmt.Fprintf(&b, " text=%q [", n.Text)
	for _, c := range n.Children {
		b.WriteString(render(c))
	}
	b.WriteString("]")
	return b.String()
}

var seeds = []string{
	`<iq type='set' id='a&amp;b'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item id='x'><geoloc xmlns='http://jabber.org/protocol/geoloc' xml:lang='en'><lat>1.5</lat><text>a &lt; b &#x41;&#66;</text></geoloc></item></publish></pubsub></iq>`,
	`<message xmlns:p='urn:p'><p:x p:a='1' b="2"><![CDATA[<raw>]]> tail</p:x></message>`,
	`<presence/>`,
	`<a xmlns='urn:a'><b xmlns=''><c/></b></a>`,
}

func TestAgreesWithEncodingXML(t *testing.T) {
	for _, s := range seeds {
		got, err := Parse([]byte(s), "jabber:client")
		want, werr := stdTree([]byte(s), "jabber:client")
		if err != nil || werr != nil {
			t.Fatalf("%s: %v / %v", s, err, werr)
		}
		if render(got) != render(want) {
			t.Errorf("%s\n got %s\nwant %s", s, render(got), render(want))
		}
		if string(got.Raw) != s {
			t.Errorf("raw %q", got.Raw)
		}
	}
}

func TestRawSpansChildren(t *testing.T) {
	n, err := Parse([]byte(`<item id='1'>  <geoloc xmlns='urn:g'><lat>1</lat></geoloc> </item>`), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(n.Children[0].Raw); got != `<geoloc xmlns='urn:g'><lat>1</lat></geoloc>` {
		t.Errorf("child raw %q", got)
	}
	if n.HasText() {
		t.Error("whitespace counted as text")
	}
}

func TestRefusesBrokenInput(t *testing.T) {
	for _, s := range []string{"", "<", "<a>", "<a></b>", "<a b></a>", "<a b='1></a>", "<x:a/>", "<a>&bogus;</a>", "<a/><b/>", "<a><!-- c --></a>", "<a>&#xFFFFFFFF;</a>"} {
		if _, err := Parse([]byte(s), ""); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse([]byte(s), "jabber:client")
		if err != nil {
			return
		}
		// What xmlnode accepts, encoding/xml must read the same way.
		want, werr := stdTree([]byte(s), "jabber:client")
		if werr != nil {
			return // xmlnode is lenient on input the hub's scanner has refused already
		}
		if render(got) != render(want) {
			t.Fatalf("%q\n got %s\nwant %s", s, render(got), render(want))
		}
		// An element that says it is self-contained reads the same alone.
		var walk func(n *Node)
		walk = func(n *Node) {
			if n.SelfContained() {
				alone, err := Parse(n.Raw, "")
				if err != nil || render(alone) != render(n) {
					t.Fatalf("%q: %q self-contained, alone %v %s", s, n.Raw, err, render(alone))
				}
			}
			for _, c := range n.Children {
				walk(c)
			}
		}
		walk(got)
	})
}

func TestSelfContained(t *testing.T) {
	for doc, want := range map[string]bool{
		`<item><geoloc xmlns='urn:g'><lat>1</lat></geoloc></item>`:                     true,
		`<item><g:geoloc xmlns:g='urn:g'><g:lat>1</g:lat></g:geoloc></item>`:           true,
		`<item><geoloc xmlns='urn:g' xml:lang='en'/></item>`:                           true,
		`<item><geoloc><lat>1</lat></geoloc></item>`:                                   false, // the stanza's namespace
		`<item xmlns:g='urn:g'><g:geoloc><g:lat>1</g:lat></g:geoloc></item>`:           false,
		`<item xmlns:g='urn:g'><geoloc xmlns='urn:h'><g:lat/></geoloc></item>`:         false,
		`<item xmlns:g='urn:g'><geoloc xmlns='urn:h' g:a='1'/></item>`:                 false,
		`<item><g:geoloc xmlns:g='urn:g'><lat>1</lat></g:geoloc></item>`:               false, // lat inherits the stanza's
		`<item><g:geoloc xmlns:g='urn:g' xmlns='urn:h'><lat>1</lat></g:geoloc></item>`: true,
	} {
		n, err := Parse([]byte(doc), "jabber:client")
		if err != nil {
			t.Fatal(doc, err)
		}
		if got := n.Children[0].SelfContained(); got != want {
			t.Errorf("%s: self-contained %v, want %v", doc, got, want)
		}
		if n.SelfContained() {
			t.Errorf("%s: the root takes its namespace from Parse, yet reads as self-contained", doc)
		}
	}
}
