package dashboard

import (
	"encoding/xml"
	"net/http"
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

// xmppLinks are the XMPP endpoints of this server as the client reached
// it: wss:// and https:// when it came over TLS, or through a trusted
// proxy that says so, ws:// and http:// otherwise.
func (s *Server) xmppLinks(r *http.Request) []xrdLink {
	secure := r.TLS != nil || s.fromTrustedProxy(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	ws, web := "ws://", "http://"
	if secure {
		ws, web = "wss://", "https://"
	}
	var links []xrdLink
	if s.cfg.XMPPWebSocket != nil {
		links = append(links, xrdLink{relWebSocket, ws + r.Host + xmppWebSocketPath})
	}
	if s.cfg.XMPPBOSH != nil {
		links = append(links, xrdLink{relBOSH, web + r.Host + xmppBOSHPath})
	}
	return links
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
