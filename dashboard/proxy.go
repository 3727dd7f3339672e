package dashboard

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/geohub/geohub/hub"
	"github.com/labstack/echo/v4"
)

// ipExtractor finds a request's client: the connection's address, or,
// when that is one of the trusted proxies, the last address in
// X-Forwarded-For that is not a trusted proxy itself. Echo's defaults
// would also trust loopback and private networks; here only what the
// operator named is trusted.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		p = p.Masked()
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// fromTrustedProxy reports whether r came through one of the trusted
// proxies.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// toHub hands an XMPP transport request (a WebSocket upgrade, a BOSH
// request) to the hub; from a trusted proxy it passes on the client's
// address and whether the client reached the proxy over TLS
// (X-Forwarded-Proto), so that the hub's rules apply to the client rather
// than to the proxy.
func (s *Server) toHub(h http.Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if s.fromTrustedProxy(r) {
			if ip, err := netip.ParseAddr(c.RealIP()); err == nil {
				r = hub.Forwarded(r, ip.Unmap(), strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"))
			}
		}
		h.ServeHTTP(c.Response(), r)
		return nil
	}
}
