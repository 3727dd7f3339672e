package dashboard

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// xmppWebSocketPath is where Config.XMPPWebSocket is mounted.
const xmppWebSocketPath = "/xmpp-websocket"

// xmppBOSHPath is where Config.XMPPBOSH is mounted.
const xmppBOSHPath = "/http-bind"

// relWebSocket and relBOSH name the WebSocket and BOSH endpoints among a
// host's alternative XMPP connection methods (XEP-0156 §3).
const (
	relWebSocket = "urn:xmpp:alt-connections:websocket"
	relBOSH      = "urn:xmpp:alt-connections:xbosh"
)

// xmppLinks are the XMPP endpoints of this server: under Config.PublicURL
// when it is set; else as a trusted proxy forwards the request (its Host,
// and X-Forwarded-Proto for the scheme); else at the address and scheme
// the connection reached. A client's own Host header is never echoed, so
// that nobody gets a link to a host of their choosing served from here.
func (s *Server) xmppLinks(r *http.Request) []xrdLink {
	var secure bool
	var base string // host[:port] and path prefix
	switch pub, _ := ParsePublicURL(s.cfg.PublicURL); {
	case pub != nil:
		secure, base = pub.Scheme == "https", pub.Host+pub.Path
	case s.fromTrustedProxy(r):
		secure, base = strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"), r.Host
	default:
		secure, base = r.TLS != nil, "localhost"
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			base = a.String()
		}
	}
	ws, web := "ws://", "http://"
	if secure {
		ws, web = "wss://", "https://"
	}
	var links []xrdLink
	if s.cfg.XMPPWebSocket != nil {
		links = append(links, xrdLink{relWebSocket, ws + base + xmppWebSocketPath})
	}
	if s.cfg.XMPPBOSH != nil {
		links = append(links, xrdLink{relBOSH, web + base + xmppBOSHPath})
	}
	return links
}

// ParsePublicURL checks a public URL (Config.PublicURL): empty, or http or
// https with a host and nothing after the path; a trailing / is dropped.
func ParsePublicURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("want an http:// or https:// URL")
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("no host")
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("want scheme, host, port and path only, not %q", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

type xrdLink struct {
	Rel  string `xml:"rel,attr" json:"rel"`
	Href string `xml:"href,attr" json:"href"`
}

// hostMeta answers /.well-known/host-meta: an XRD document (RFC 6415)
// naming the XMPP WebSocket and BOSH endpoints, which web clients such as
// Converse.js and xmpp.js look up from the domain alone (XEP-0156 §3.1).
func (s *Server) hostMeta(c echo.Context) error {
	doc := struct {
		XMLName xml.Name  `xml:"http://docs.oasis-open.org/ns/xri/xrd-1.0 XRD"`
		Links   []xrdLink `xml:"Link"`
	}{Links: s.xmppLinks(c.Request())}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	allowAnyOrigin(c)
	return c.Blob(http.StatusOK, "application/xrd+xml; charset=utf-8", append([]byte(xml.Header), append(b, '\n')...))
}

// hostMetaJSON answers /.well-known/host-meta.json, the same in JSON
// (RFC 6415 Appendix A).
func (s *Server) hostMetaJSON(c echo.Context) error {
	allowAnyOrigin(c)
	return c.JSON(http.StatusOK, map[string][]xrdLink{"links": s.xmppLinks(c.Request())})
}

// allowAnyOrigin lets web clients served from other origins read the
// answer with CORS, as they must to discover the endpoint from a domain:
// it holds nothing private. The answer depends on the Host and scheme
// asked for, so caches must not hand it to others unchecked.
func allowAnyOrigin(c echo.Context) {
	h := c.Response().Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "no-cache")
}
