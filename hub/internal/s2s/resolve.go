package s2s

import (
	"cmp"
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
)

// Resolver looks up SRV records; *net.Resolver is one. Tests give a fake.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// target is one address to try for a domain.
type target struct {
	addr      string
	directTLS bool // XEP-0368: TLS from the first byte, no STARTTLS
	// unverified: the peer's certificate did not verify; dialback
	// (XEP-0220) proves its domain instead.
	unverified bool
}

// errNoService is a domain that says, with a "." SRV target, that it
// offers no server-to-server service (RFC 6120 §3.2.1).
var errNoService = errors.New("the domain offers no XMPP server-to-server service")

// targets lists where to connect for domain, in the order to try them: the
// configured host for it if any (tests); else the _xmpps-server._tcp
// (direct TLS, XEP-0368) and _xmpp-server._tcp SRV records merged by
// priority, direct TLS first at equal priority (each lookup already
// ordered by weight within a priority); else, when neither has a record,
// the domain itself on port 5269 (RFC 6120 §3.2.2).
func targets(ctx context.Context, r Resolver, hosts map[string]string, domain string) ([]target, error) {
	if addr, ok := hosts[domain]; ok {
		return []target{{addr: addr}}, nil
	}
	type rec struct {
		target
		prio uint16
	}
	var recs []rec
	found, refused := false, 0
	for _, svc := range []struct {
		name   string
		direct bool
	}{{"xmpps-server", true}, {"xmpp-server", false}} {
		_, srvs, err := r.LookupSRV(ctx, svc.name, "tcp", domain)
		if err != nil || len(srvs) == 0 {
			continue
		}
		found = true
		if len(srvs) == 1 && (srvs[0].Target == "." || srvs[0].Target == "") {
			refused++
			continue
		}
		for _, s := range srvs {
			host := s.Target
			if n := len(host); n > 0 && host[n-1] == '.' {
				host = host[:n-1]
			}
			recs = append(recs, rec{target{addr: net.JoinHostPort(host, strconv.Itoa(int(s.Port))), directTLS: svc.direct}, s.Priority})
		}
	}
	switch {
	case !found:
		return []target{{addr: net.JoinHostPort(domain, "5269")}}, nil
	case len(recs) == 0 && refused > 0:
		return nil, errNoService
	}
	slices.SortStableFunc(recs, func(a, b rec) int { return cmp.Compare(a.prio, b.prio) })
	out := make([]target, len(recs))
	for i, r := range recs {
		out[i] = r.target
	}
	return out, nil
}
