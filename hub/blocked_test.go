package hub

import (
	"fmt"
	"testing"

	"github.com/geohub/geohub/hub/internal/wire"
)

func testBlockSet(n int) *blockSet {
	b := &blockSet{jids: map[string]struct{}{}}
	for i := range n {
		b.jids[fmt.Sprintf("u%d@example.net", i)] = struct{}{}
	}
	b.jids["bob@localhost/phone"] = struct{}{}
	b.jids["spam.example"] = struct{}{}
	return b
}

func TestBlockMatch(t *testing.T) {
	b := testBlockSet(10)
	for _, tc := range []struct {
		local, domain, resource string
		want                    bool
	}{
		{"bob", "localhost", "phone", true},  // the full JID
		{"bob", "localhost", "desk", false},  // another resource
		{"bob", "localhost", "", false},      // the bare JID is not blocked
		{"u3", "example.net", "any", true},   // bare item, any resource
		{"u3", "example.net", "", true},      // bare item
		{"x", "spam.example", "r", true},     // domain item covers its users
		{"", "spam.example", "", true},       // and the domain itself
		{"", "spam.example", "r", true},      // and domain/resource
		{"x", "example.net", "", false},      // not a domain item
		{"u3", "example.network", "", false}, // no prefix matching
	} {
		if got := blockMatch(b, tc.local, tc.domain, tc.resource); got != tc.want {
			t.Errorf("%s@%s/%s: %v, want %v", tc.local, tc.domain, tc.resource, got, tc.want)
		}
		if got := blockMatch(b, []byte(tc.local), []byte(tc.domain), []byte(tc.resource)); got != tc.want {
			t.Errorf("%s@%s/%s as bytes: %v", tc.local, tc.domain, tc.resource, got)
		}
	}
	local, domain, resource := []byte("bob"), []byte("localhost"), []byte("phone")
	if n := testing.AllocsPerRun(100, func() { blockMatch(b, local, domain, resource) }); n != 0 {
		t.Errorf("blockMatch allocates %v times", n)
	}
}

// BenchmarkBlockChecks measures what routeMessage adds per message to a
// full JID: the outbound and inbound checks, for accounts that block
// nobody (the common case) and for one whose list has 1000 JIDs.
func BenchmarkBlockChecks(b *testing.B) {
	s := &Server{domain: "localhost"}
	raw := []byte("<message to='alice@localhost/desk' type='chat'><body>x</body></message>")
	el, _, err := wire.NewScanner(wire.Limits{}, "jabber:client").Next(raw)
	if err != nil {
		b.Fatal(err)
	}
	to := addr{kind: addrFull, local: []byte("alice"), domain: []byte("localhost"), resource: []byte("desk")}
	for _, n := range []int{0, 1000} {
		src := &session{srv: s, local: "bob", resource: "gps"}
		dst := &session{srv: s, local: "alice", resource: "desk"}
		if n > 0 {
			src.blocks.Store(testBlockSet(n))
			dst.blocks.Store(testBlockSet(n))
		}
		b.Run(fmt.Sprintf("list=%d", n), func(b *testing.B) {
			for b.Loop() {
				if s.blockedOut(src, el, to) || blockedIn(src, el, dst) {
					b.Fatal("blocked")
				}
			}
		})
	}
}
