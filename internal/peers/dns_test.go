package peers

import (
	"context"
	"errors"
	"net"
	"testing"
)

// The loopback name server answers the routed SRV question with localhost
// and the port, and any other with "no such name", as Go's own resolver
// reads them.
func TestLoopbackDNS(t *testing.T) {
	d, err := startLoopbackDNS()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.route("_xmpp-server._tcp", "GeoHub.test", "127.0.0.1:15269"); err != nil {
		t.Fatal(err)
	}
	if err := d.route("_xmpp-server._tcp", "elsewhere.test", "192.0.2.1:5269"); err == nil {
		t.Error("a route off loopback was taken")
	}
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.conn.LocalAddr().String())
	}}
	_, srvs, err := r.LookupSRV(context.Background(), "xmpp-server", "tcp", "geohub.test")
	if err != nil || len(srvs) != 1 || srvs[0].Target != "localhost." || srvs[0].Port != 15269 {
		t.Errorf("SRV of geohub.test: %v %+v", err, srvs)
	}
	var dnsErr *net.DNSError
	if _, _, err := r.LookupSRV(context.Background(), "xmpps-server", "tcp", "geohub.test"); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("SRV not routed: %v", err)
	}
	if _, err := r.LookupHost(context.Background(), "example.com"); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("A of example.com: %v", err)
	}
}
