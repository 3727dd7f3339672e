package s2s

import (
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
)

// fakeResolver answers SRV lookups from a table; it never touches DNS.
type fakeResolver map[string][]*net.SRV

func (f fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	key := "_" + service + "._" + proto + "." + name
	if srvs, ok := f[key]; ok {
		return key, srvs, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: key, IsNotFound: true}
}

func TestTargetsOrder(t *testing.T) {
	r := fakeResolver{
		"_xmpp-server._tcp.a.example": {
			{Target: "s2.a.example.", Port: 5269, Priority: 20},
			{Target: "s1.a.example.", Port: 5270, Priority: 10},
		},
		"_xmpps-server._tcp.a.example": {
			{Target: "tls.a.example.", Port: 5270, Priority: 10},
		},
		"_xmpp-server._tcp.plain.example": {{Target: "x.plain.example.", Port: 5269, Priority: 0}},
		"_xmpp-server._tcp.none.example":  {{Target: ".", Port: 0}},
	}
	hosts := map[string]string{"test.example": "127.0.0.1:1234"}
	for _, c := range []struct {
		domain string
		want   []target
		err    error
	}{
		// Merged by priority; direct TLS first at equal priority.
		{"a.example", []target{{addr: "tls.a.example:5270", directTLS: true}, {addr: "s1.a.example:5270", directTLS: false}, {addr: "s2.a.example:5269", directTLS: false}}, nil},
		{"plain.example", []target{{addr: "x.plain.example:5269", directTLS: false}}, nil},
		// No record: the domain itself on 5269.
		{"nosrv.example", []target{{addr: "nosrv.example:5269", directTLS: false}}, nil},
		// "." says no service: no fallback.
		{"none.example", nil, errNoService},
		// The test setting wins over DNS.
		{"test.example", []target{{addr: "127.0.0.1:1234", directTLS: false}}, nil},
	} {
		got, err := targets(context.Background(), r, hosts, c.domain)
		if !errors.Is(err, c.err) || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, %v; want %v, %v", c.domain, got, err, c.want, c.err)
		}
	}
}
