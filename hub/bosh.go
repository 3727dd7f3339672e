package hub

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/geohub/geohub/internal/xmlesc"
)

// XMPP over BOSH (XEP-0124, XEP-0206).
//
// A BOSH session is served by the same code as a TCP or WebSocket
// connection: boshSession (bosh_conn.go) is a net.Conn carrying an RFC
// 6120 stream, so mellium negotiates it and a session reads and routes its
// stanzas without knowing the difference. The children of each request's
// <body/> become stream bytes, in rid order; what the hub writes is cut
// into elements (framing.go) and handed out in the bodies of the responses
// to held requests. A stream restart (xmpp:restart) becomes a new stream
// header, a terminate the end of the stream.

const (
	nsHTTPBind = "http://jabber.org/protocol/httpbind"
	nsXBOSH    = "urn:xmpp:xbosh"
)

// BOSHConfig tunes the BOSH endpoint. Zero fields take their defaults.
type BOSHConfig struct {
	MaxWait     time.Duration // longest a request is held: the wait a client asks for is capped at this; 60 s
	Inactivity  time.Duration // a session without a request for this long ends; 60 s
	MaxPause    time.Duration // the longest pause a client may ask for; 120 s
	MaxSessions int           // BOSH sessions at once, bound or negotiating; 10000
}

// DefaultBOSHConfig is used for zero fields of BOSHConfig.
var DefaultBOSHConfig = BOSHConfig{
	MaxWait:     60 * time.Second,
	Inactivity:  60 * time.Second,
	MaxPause:    120 * time.Second,
	MaxSessions: 10000,
}

// boshOverhead is what a body may hold beyond one stanza: the <body/>
// element itself and the whitespace around it.
const boshOverhead = 4 << 10

// BOSHHandler serves XMPP over BOSH (XEP-0124, XEP-0206) with the same
// negotiation, limits and sessions as the TCP listeners; the dashboard
// mounts it at /http-bind. Its security rules are WebSocketHandler's: over
// HTTPS the stream counts as secure and SASL PLAIN is offered too; over
// plain HTTP only SCRAM is offered, and only to loopback clients unless
// Config.AllowPlain is set. STARTTLS is never offered. Browsers on other
// origins may use it (CORS): a BOSH session is authenticated by SASL in
// the stream and named by its secret sid, never by cookies.
func (s *Server) BOSHHandler(cfg BOSHConfig) http.Handler {
	d := DefaultBOSHConfig
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = d.MaxWait
	}
	if cfg.Inactivity <= 0 {
		cfg.Inactivity = d.Inactivity
	}
	if cfg.MaxPause <= 0 {
		cfg.MaxPause = d.MaxPause
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = d.MaxSessions
	}
	return &boshHandler{srv: s, cfg: cfg, sessions: map[string]*boshSession{}}
}

type boshHandler struct {
	srv *Server
	cfg BOSHConfig

	mu       sync.Mutex // taken after a session's mu, never before
	sessions map[string]*boshSession
}

func (b *boshHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	switch r.Method {
	case http.MethodPost:
	case http.MethodOptions:
		// The CORS preflight of a browser posting text/xml.
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		h.Set("Allow", "POST, OPTIONS")
		http.Error(w, "XMPP over BOSH (XEP-0124, XEP-0206): POST <body/> elements here", http.StatusMethodNotAllowed)
		return
	}
	maxBody := b.srv.cfg.Limits.MaxStanzaSize + boshOverhead
	raw, err := io.ReadAll(io.LimitReader(r.Body, int64(maxBody)+1))
	if err != nil {
		return // the client went away
	}
	body, perr := parseBOSHBody(raw)
	var ss *boshSession
	if body != nil && body.sid != "" {
		b.mu.Lock()
		ss = b.sessions[body.sid]
		b.mu.Unlock()
	}
	var resp []byte
	switch {
	case len(raw) > maxBody || ss != nil && len(raw) > ss.bodyLimit():
		resp = b.refuse(r, ss, "policy-violation", "a body larger than allowed")
	case perr != nil:
		resp = b.refuse(r, ss, "bad-request", perr.Error())
	case body.sid == "":
		resp = b.create(r, body)
	case ss == nil:
		resp = b.refuse(r, nil, "item-not-found", "unknown sid")
	default:
		resp = ss.handle(r.Context(), body)
	}
	h.Set("Content-Type", "text/xml; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.Write(resp)
}

// refuse answers a request with a terminal condition (XEP-0124 §17: HTTP
// 200 with type='terminate'), ending the session it names, if any.
func (b *boshHandler) refuse(r *http.Request, ss *boshSession, cond, text string) []byte {
	b.srv.log.Info("bosh request refused", "remote", r.RemoteAddr, "condition", cond, "reason", text)
	if ss != nil {
		ss.end(cond)
	}
	return terminateBody(cond, nil)
}

// create starts a session for a session creation request (XEP-0124 §7.1,
// XEP-0206 §5) and answers it once the hub has sent its stream features.
func (b *boshHandler) create(r *http.Request, body *boshBody) []byte {
	s := b.srv
	switch {
	case !body.has("rid") || !body.has("wait") || !body.has("hold") || !body.has("to"):
		return b.refuse(r, nil, "bad-request", "a session creation request needs rid, to, wait and hold")
	case body.to != s.domain:
		return b.refuse(r, nil, "host-unknown", "this server serves "+s.domain)
	}
	secure := r.TLS != nil
	remote := r.RemoteAddr
	if f, ok := r.Context().Value(forwardedKey{}).(forwarded); ok {
		// As for WebSocket: the client's leg counts, not the proxy's.
		remote, secure = netip.AddrPortFrom(f.ip, 0).String(), f.secure
	}
	cfg := b.cfg
	ss := newBOSHSession(b, body, boshParams{
		wait:       min(time.Duration(body.wait)*time.Second, cfg.MaxWait),
		hold:       min(body.hold, 1),
		inactivity: cfg.Inactivity,
		maxPause:   cfg.MaxPause,
		lang:       body.lang,
		ver:        boshVersion(body.ver),
	}, tcpAddr(r.Context().Value(http.LocalAddrContextKey)), tcpAddr(remote))

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return b.refuse(r, nil, "system-shutdown", "the hub is shutting down")
	}
	s.wg.Add(1)
	s.mu.Unlock()
	b.mu.Lock()
	if len(b.sessions) >= cfg.MaxSessions {
		b.mu.Unlock()
		s.wg.Done()
		return b.refuse(r, nil, "policy-violation", "too many BOSH sessions")
	}
	b.sessions[ss.sid] = ss
	b.mu.Unlock()

	turn := ss.enqueue(body)
	ip := remoteIP(ss)
	go func() {
		defer s.wg.Done()
		s.serve(ss, &negotiation{
			srv:      s,
			overHTTP: true,
			secure:   secure,
			plainOK:  s.cfg.AllowPlain || ip.IsLoopback(),
		})
	}()
	return ss.await(r.Context(), turn)
}

// remove forgets an ended session.
func (b *boshHandler) remove(sid string) {
	b.mu.Lock()
	delete(b.sessions, sid)
	b.mu.Unlock()
}

func newSID() string {
	p := make([]byte, 16)
	rand.Read(p)
	return hex.EncodeToString(p)
}

// boshBody is a request's <body/>: the attributes the hub reads and the
// children, as they were sent.
type boshBody struct {
	attrs   map[string]bool // attributes present, by local name
	sid     string
	rid     int64
	to      string
	lang    string
	ver     string
	wait    int
	hold    int
	pause   int
	typ     string
	restart bool
	payload []byte
}

func (b *boshBody) has(attr string) bool { return b.attrs[attr] }

var (
	errBodyNotXML = errors.New("the request is not a well-formed <body/>")
	errBodyNS     = errors.New("the root element is not <body xmlns='" + nsHTTPBind + "'/>")
	errBodyText   = errors.New("text between the children of <body/>")
	errBodyAttr   = errors.New("an attribute of <body/> has a bad value")
	errBodyRID    = errors.New("no rid in <body/>")
)

// parseBOSHBody checks that raw is one well-formed <body/> in the httpbind
// namespace, with elements only as children, and reads its attributes.
// When the start tag could be read, the body is returned even with an
// error, so that the session it names can be ended.
func parseBOSHBody(raw []byte) (*boshBody, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	var start xml.StartElement
	for start.Name.Local == "" {
		tok, err := d.Token()
		if err != nil {
			return nil, errBodyNotXML
		}
		switch t := tok.(type) {
		case xml.StartElement:
			start = t
		case xml.ProcInst:
			if t.Target != "xml" {
				return nil, errBodyNotXML
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, errBodyNotXML
			}
		default:
			return nil, errBodyNotXML
		}
	}
	b := &boshBody{attrs: map[string]bool{}}
	bad := false
	for _, a := range start.Attr {
		switch a.Name.Space {
		case "":
			b.attrs[a.Name.Local] = true
		case nsXBOSH:
			if a.Name.Local == "restart" {
				b.restart = a.Value == "true"
			}
			continue
		case "xml", "http://www.w3.org/XML/1998/namespace":
			if a.Name.Local == "lang" {
				b.lang = a.Value
			}
			continue
		default:
			continue
		}
		var err error
		switch a.Name.Local {
		case "sid":
			b.sid = a.Value
		case "rid":
			b.rid, err = strconv.ParseInt(a.Value, 10, 64)
			bad = bad || b.rid <= 0
		case "to":
			b.to = a.Value
		case "ver":
			b.ver = a.Value
		case "wait":
			b.wait, err = strconv.Atoi(a.Value)
			bad = bad || b.wait < 0
		case "hold":
			b.hold, err = strconv.Atoi(a.Value)
			bad = bad || b.hold < 0
		case "pause":
			b.pause, err = strconv.Atoi(a.Value)
			bad = bad || b.pause < 0
		case "type":
			b.typ = a.Value
		}
		bad = bad || err != nil
	}
	if start.Name.Space != nsHTTPBind || start.Name.Local != "body" {
		return b, errBodyNS
	}
	if bad {
		return b, errBodyAttr
	}
	if !b.has("rid") {
		return b, errBodyRID
	}
	// The children, checked for well-formedness here so that a broken
	// body is refused as a whole, before any of it reaches the stream.
	from := d.InputOffset()
	depth, prev := 1, from
	for depth > 0 {
		prev = d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return b, errBodyNotXML
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 1 && len(bytes.TrimSpace(t)) > 0 {
				return b, errBodyText
			}
		case xml.Directive, xml.Comment, xml.ProcInst:
			// Restricted XML (RFC 6120 §11.1).
			return b, errBodyNotXML
		}
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if cd, ok := tok.(xml.CharData); err != nil || !ok || len(bytes.TrimSpace(cd)) > 0 {
			return b, errBodyNotXML
		}
	}
	b.payload = bytes.TrimSpace(raw[from:prev])
	return b, nil
}

// boshVersion is the protocol version the hub speaks to a client that
// offered ver: the client's, up to 1.11 (XEP-0124 §7.1).
func boshVersion(ver string) string {
	const ours = "1.11"
	major, minor, ok := strings.Cut(ver, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if !ok || err1 != nil || err2 != nil || ma != 1 || mi >= 11 {
		return ours
	}
	return ver
}

// emptyBody answers a request with nothing to deliver.
const emptyBody = `<body xmlns='` + nsHTTPBind + `'/>`

// responseBody wraps elements for the client in a <body/>.
func responseBody(payload []byte) []byte {
	if len(payload) == 0 {
		return []byte(emptyBody)
	}
	out := make([]byte, 0, len(payload)+128)
	out = append(out, `<body xmlns='`+nsHTTPBind+`' xmlns:stream='`+nsStreamNS+`'>`...)
	out = append(out, payload...)
	return append(out, `</body>`...)
}

// terminateBody ends a session: with a condition (XEP-0124 §17), or none
// when the client asked for the end; payload is what the hub still had for
// the client, a stream error for remote-stream-error.
func terminateBody(cond string, payload []byte) []byte {
	out := []byte(`<body xmlns='` + nsHTTPBind + `' xmlns:stream='` + nsStreamNS + `' type='terminate'`)
	if cond != "" {
		out = xmlesc.Attr(out, "condition", cond)
	}
	if len(payload) == 0 {
		return append(out, "/>"...)
	}
	out = append(out, '>')
	out = append(out, payload...)
	return append(out, "</body>"...)
}
