package dashboard

import (
	"crypto/subtle"
	"fmt"
	"math"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/labstack/echo/v4"
)

// Who may do what:
//
//   - Anyone: /healthz, /readyz, /metrics, /api/openapi.json, /api/config,
//     /api/login, and the UI's files.
//   - Operators and admins, with a session cookie or a bearer token:
//     everything else under /api, each answer limited to what they may see.
//     Operators see the devices that share a group with them (admins see
//     every account); a device they may not see answers 404, as if it did
//     not exist. They read the fences that concern their devices, create
//     fences that watch only their devices and groups, and change or delete
//     those. They read and acknowledge the alerts of their devices.
//   - Admins only: creating, changing and deleting accounts, new
//     passwords, and API tokens; an operator gets 403.
//   - Devices cannot log in: their login is refused as a wrong password is
//     (401, the same answer), so that it does not confirm a device's
//     password; tokens are for operators and admins.

// Names on the wire.
const (
	sessionCookie = "geohub_session"
	csrfHeader    = "X-CSRF-Token"
)

// viewer is who makes a request, and what they may see.
type viewer struct {
	acct  devices.Account
	jid   string
	admin bool
	// peers are the names of the devices an operator sees, sorted; unused
	// for admins.
	peers  []string
	gen    uint64   // the accounts' generation peers was read at
	sess   *session // the login, for a cookie
	token  string   // the token's ID, for a bearer
	domain string
}

func (s *Server) newViewer(a devices.Account) *viewer {
	v := &viewer{acct: a, jid: s.cfg.Accounts.JID(a.Name), admin: a.Role == devices.RoleAdmin,
		domain: s.cfg.Accounts.Domain(), gen: s.cfg.Accounts.Generation()}
	if !v.admin {
		v.peers = s.cfg.Accounts.GroupPeers(a.Name)
	}
	return v
}

// sees reports whether the viewer may see the account called name (its
// position, readings, trail, alerts).
func (v *viewer) sees(name string) bool {
	if v.admin {
		return true
	}
	_, ok := slices.BinarySearch(v.peers, name)
	return ok
}

// seesJID is sees for a bare JID.
func (v *viewer) seesJID(jid string) bool {
	local, domain, ok := strings.Cut(jid, "@")
	return ok && domain == v.domain && v.sees(local)
}

// inGroup reports whether the viewer is a member of group g.
func (v *viewer) inGroup(g string) bool { return v.acct.InGroup(g) }

// userOut is an account as /api/login and /api/me show it.
type userOut struct {
	JID    string   `json:"jid"`
	Name   string   `json:"name"`
	Role   string   `json:"role"`
	Groups []string `json:"groups"`
}

type loginOut struct {
	User userOut `json:"user"`
	CSRF string  `json:"csrf"`
}

func (v *viewer) user() userOut {
	return userOut{JID: v.jid, Name: v.acct.Name, Role: string(v.acct.Role), Groups: nonNil(v.acct.Groups)}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// authn finds who makes the request, from a bearer token or else the
// session cookie, or answers 401. Changes made with a cookie need the
// session's CSRF token in X-CSRF-Token, or get 403.
func (s *Server) authn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, tok, _ := strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") {
				return apiError(http.StatusUnauthorized, "Authorization: use Bearer and an API token")
			}
			a, id, ok := s.cfg.Tokens.Authenticate(strings.TrimSpace(tok))
			if !ok {
				return apiError(http.StatusUnauthorized, "invalid or revoked API token")
			}
			v := s.newViewer(a)
			v.token = id
			c.Set("viewer", v)
			return next(c)
		}
		ck, err := r.Cookie(sessionCookie)
		if err != nil || ck.Value == "" {
			return apiError(http.StatusUnauthorized, "not logged in: log in at /api/login or send an API token")
		}
		sess := s.sessions.get(ck.Value)
		if sess == nil {
			return apiError(http.StatusUnauthorized, "session expired or logged out: log in again")
		}
		a, ok := s.cfg.Accounts.Get(sess.account)
		if !ok || !a.Role.Watches() || !a.Created.Equal(sess.created) {
			s.sessions.drop(sess)
			return apiError(http.StatusUnauthorized, "the account of this session changed: log in again")
		}
		if cred, _ := s.cfg.Accounts.CredentialID(a.Name); cred != sess.cred {
			// Changed while this hub did not hear of it (geohub device
			// passwd on a stopped hub): WatchPasswords covers the rest.
			s.sessions.drop(sess)
			return apiError(http.StatusUnauthorized, "the password of this account changed: log in again")
		}
		if unsafeMethod(r.Method) {
			got := r.Header.Get(csrfHeader)
			if got == "" {
				return apiError(http.StatusForbidden, "missing %s header: send the csrf value from /api/login or /api/me", csrfHeader)
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
				return apiError(http.StatusForbidden, "wrong %s header for this session", csrfHeader)
			}
		}
		v := s.newViewer(a)
		v.sess = sess
		c.Set("viewer", v)
		return next(c)
	}
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// adminOnly follows authn on the routes only admins may use.
func (s *Server) adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if v := viewerOf(c); !v.admin {
			return apiError(http.StatusForbidden, "only admins may do this; %s is an %s", v.acct.Name, v.acct.Role)
		}
		return next(c)
	}
}

func viewerOf(c echo.Context) *viewer { return c.Get("viewer").(*viewer) }

type loginIn struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) login(c echo.Context) error {
	r := c.Request()
	if ok, retry := s.limiter.allow(limitKey(c.RealIP()), time.Now()); !ok {
		secs := int(math.Ceil(retry.Seconds()))
		c.Response().Header().Set("Retry-After", fmt.Sprint(secs))
		return apiError(http.StatusTooManyRequests, "too many login attempts from your address: try again in %d s", secs)
	}
	// A cross-site form can post text/plain but not JSON: requiring JSON
	// keeps other sites from logging a browser in.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return apiError(http.StatusBadRequest, "send the login as application/json")
	}
	secure, allowed := s.cookieSecure(r)
	if !allowed {
		return apiError(http.StatusForbidden, "log in over HTTPS: this is plain HTTP to %s (the hub serves HTTPS with --http-tls; "+
			"behind a TLS proxy name it in --http-trusted-proxies and have it set X-Forwarded-Proto, or set --http-cookie-secure=always; "+
			"--http-cookie-secure=never allows plain HTTP)", hostOnly(r.Host))
	}
	var in loginIn
	if err := decodeBody(c, &in, 4<<10); err != nil {
		return err
	}
	name := in.Username
	if local, domain, ok := strings.Cut(name, "@"); ok && domain == s.cfg.Accounts.Domain() {
		name = local
	}
	if n, err := devices.NormalizeName(name); err == nil {
		name = n
	}
	if in.Password == "" || !s.cfg.Accounts.Authenticate(name, in.Password) {
		// Authenticate spends the same time on unknown accounts.
		return apiError(http.StatusUnauthorized, "wrong username or password")
	}
	a, ok := s.cfg.Accounts.Get(name)
	if !ok || !a.Role.Watches() {
		// A device's right password gets the wrong one's answer: the
		// dashboard is not for devices, and must not confirm a guess.
		if ok {
			s.log.Info("dashboard login refused: a device account", "account", a.Name, "addr", c.RealIP())
		}
		return apiError(http.StatusUnauthorized, "wrong username or password")
	}
	cred, _ := s.cfg.Accounts.CredentialID(a.Name)
	cookieValue, sess, err := s.sessions.create(a, cred)
	if err != nil {
		return fmt.Errorf("storing a login: %w", err)
	}
	http.SetCookie(c.Response(), &http.Cookie{
		Name: sessionCookie, Value: cookieValue, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.cfg.SessionTTL.Seconds()),
	})
	s.log.Info("dashboard login", "account", a.Name, "addr", c.RealIP())
	v := s.newViewer(a)
	return c.JSON(http.StatusOK, loginOut{User: v.user(), CSRF: sess.csrf})
}

// cookieSecure says whether the session cookie of r is marked Secure, and
// whether a login over r is allowed at all.
func (s *Server) cookieSecure(r *http.Request) (secure, allowed bool) {
	switch s.cfg.CookieSecure {
	case CookieAlways:
		return true, true
	case CookieNever:
		return false, true
	}
	if r.TLS != nil || s.fromTrustedProxy(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") || loopbackHost(r.Host) {
		return true, true
	}
	return false, false
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// loopbackHost reports whether a Host header names this machine, which
// browsers count as a secure context even over plain HTTP.
func loopbackHost(hostport string) bool {
	h := strings.ToLower(hostOnly(hostport))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) logout(c echo.Context) error {
	v := viewerOf(c)
	if v.sess != nil {
		s.sessions.drop(v.sess)
		secure, _ := s.cookieSecure(c.Request())
		http.SetCookie(c.Response(), &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true,
			Secure: secure, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	}
	return c.NoContent(http.StatusNoContent)
}

// me answers like a login, so that a reloaded page gets its CSRF token
// back; it is empty for a bearer token, which needs none.
func (s *Server) me(c echo.Context) error {
	v := viewerOf(c)
	out := loginOut{User: v.user()}
	if v.sess != nil {
		out.CSRF = v.sess.csrf
	}
	return c.JSON(http.StatusOK, out)
}

type configOut struct {
	TileURL         string `json:"tile_url"`
	TileAttribution string `json:"tile_attribution"`
	Domain          string `json:"domain"`
}

func (s *Server) config(c echo.Context) error {
	m := s.mapNow()
	return c.JSON(http.StatusOK, configOut{TileURL: m.url, TileAttribution: m.attribution, Domain: s.cfg.Accounts.Domain()})
}

// limitKey is what the login limit counts an address as: an IPv4 address,
// or the /64 of an IPv6 one, which a single host usually has to itself (as
// the hub's XMPP limits count).
func limitKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	if ip = ip.Unmap(); ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// loginLimiter is a token bucket per client address (limitKey).
type loginLimiter struct {
	burst int
	every time.Duration
	mu    sync.Mutex
	m     map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxLimited bounds the addresses remembered; past it, the full buckets
// (addresses that have not tried for a while) are forgotten.
const maxLimited = 10_000

func newLoginLimiter(burst int, every time.Duration) *loginLimiter {
	return &loginLimiter{burst: burst, every: every, m: map[string]*bucket{}}
}

// allow takes one attempt from addr's bucket, or says how long until the
// next is allowed.
func (l *loginLimiter) allow(addr string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	refill := func(b *bucket) {
		b.tokens = min(float64(l.burst), b.tokens+now.Sub(b.at).Seconds()/l.every.Seconds())
		b.at = now
	}
	b := l.m[addr]
	if b == nil {
		if len(l.m) >= maxLimited {
			for k, o := range l.m {
				if refill(o); o.tokens >= float64(l.burst) {
					delete(l.m, k)
				}
			}
		}
		b = &bucket{tokens: float64(l.burst), at: now}
		l.m[addr] = b
	}
	refill(b)
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.every))
	}
	b.tokens--
	return true, 0
}
