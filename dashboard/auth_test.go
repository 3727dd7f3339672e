package dashboard_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/dashboard"
	"github.com/geohub/geohub/devices"
)

func sessionCookie(t *testing.T, r resp) *http.Cookie {
	t.Helper()
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == "geohub_session" {
			return ck
		}
	}
	t.Fatalf("no session cookie: %v", r.header)
	return nil
}

func TestLoginSetsAStrictHttpOnlyCookieAndAnswersTheUser(t *testing.T) {
	e := newEnv(t)
	r := e.anon().must(200, "POST", "/api/login", `{"username":"alice","password":"pw-alice"}`)
	ck := sessionCookie(t, r)
	// httptest listens on 127.0.0.1: a loopback host, so Secure.
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || !ck.Secure || ck.MaxAge <= 0 {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, Secure, Max-Age", ck)
	}
	var out struct {
		User struct {
			JID, Name, Role string
			Groups          []string
		}
		CSRF string
	}
	r.json(t, &out)
	if out.User.JID != "alice@localhost" || out.User.Name != "alice" || out.User.Role != "operator" ||
		len(out.User.Groups) != 1 || out.User.Groups[0] != "north" || len(out.CSRF) < 20 {
		t.Errorf("login answer: %s", r.body)
	}
	// A bare JID works as the username too.
	e.anon().must(200, "POST", "/api/login", `{"username":"alice@localhost","password":"pw-alice"}`)
}

func TestLoginRefusesBadCredentialsAlikeAndDevices(t *testing.T) {
	e := newEnv(t)
	c := e.anon()
	wrong := c.status(t, 401, "POST", "/api/login", `{"username":"alice","password":"nope"}`)
	unknown := c.status(t, 401, "POST", "/api/login", `{"username":"mallory","password":"nope"}`)
	invalid := c.status(t, 401, "POST", "/api/login", `{"username":"no/such@name","password":"nope"}`)
	if string(wrong.body) != string(unknown.body) || string(wrong.body) != string(invalid.body) {
		t.Errorf("a wrong password and an unknown account answer differently:\n%s\n%s\n%s", wrong.body, unknown.body, invalid.body)
	}
	if len(wrong.header.Values("Set-Cookie")) > 0 {
		t.Error("a failed login set a cookie")
	}
	// A device's right password is answered as a wrong one: the dashboard
	// does not confirm a guess of it.
	dev := c.status(t, 401, "POST", "/api/login", `{"username":"car1","password":"pw-car1"}`)
	devWrong := c.status(t, 401, "POST", "/api/login", `{"username":"car1","password":"nope"}`)
	if string(dev.body) != string(wrong.body) || string(devWrong.body) != string(wrong.body) || len(dev.header.Values("Set-Cookie")) > 0 {
		t.Errorf("a device's right password answers differently from a wrong one:\n%s\n%s\n%s", dev, devWrong, wrong)
	}
	for _, body := range []string{``, `{"username":"alice"}`, `{"username":"alice","password":"pw-alice","x":1}`, `[1]`, `{"username":`} {
		r := c.do("POST", "/api/login", body)
		if r.code != 400 && r.code != 401 {
			t.Errorf("login %q: %s", body, r)
		}
		r.errorMessage(t)
	}
	// A cross-site form cannot post JSON.
	form := &client{e: e, headers: map[string]string{"Content-Type": "text/plain"}}
	if r := form.do("POST", "/api/login", []byte(`{"username":"alice","password":"pw-alice"}`)); r.code != 400 {
		t.Errorf("text/plain login: %s", r)
	}
}

func TestLoginCookiePolicyOverPlainHTTP(t *testing.T) {
	e := newEnv(t)
	body := `{"username":"alice","password":"pw-alice"}`
	remote := &client{e: e, host: "hub.example.org:8080"}
	r := remote.status(t, 403, "POST", "/api/login", body)
	if msg := r.errorMessage(t); !strings.Contains(msg, "HTTPS") || !strings.Contains(msg, "--http-tls") {
		t.Errorf("plain HTTP to a remote host: %s", msg)
	}
	// X-Forwarded-Proto from anyone but a trusted proxy does not count: a
	// client cannot claim HTTPS for a plain-HTTP login.
	claimed := &client{e: e, host: "hub.example.org", headers: map[string]string{"X-Forwarded-Proto": "https"}}
	if r := claimed.status(t, 403, "POST", "/api/login", body); !strings.Contains(r.errorMessage(t), "--http-trusted-proxies") {
		t.Errorf("plain HTTP claiming X-Forwarded-Proto: https: %s", r)
	}
	// Behind a trusted TLS proxy that says so.
	behind := newEnv(t, func(c *dashboard.Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	proxied := &client{e: behind, host: "hub.example.org", headers: map[string]string{"X-Forwarded-Proto": "https"}}
	if ck := sessionCookie(t, proxied.must(200, "POST", "/api/login", body)); !ck.Secure {
		t.Error("cookie over a TLS proxy is not Secure")
	}
	(&client{e: behind, host: "hub.example.org"}).status(t, 403, "POST", "/api/login", body)
	for _, h := range []string{"localhost:8080", "[::1]:8080", "127.0.0.2", "dash.localhost"} {
		c := &client{e: e, host: h}
		if ck := sessionCookie(t, c.must(200, "POST", "/api/login", body)); !ck.Secure {
			t.Errorf("cookie for host %s is not Secure", h)
		}
	}

	never := newEnv(t, func(c *dashboard.Config) { c.CookieSecure = dashboard.CookieNever })
	if ck := sessionCookie(t, (&client{e: never, host: "hub.example.org"}).must(200, "POST", "/api/login", body)); ck.Secure {
		t.Error("--http-cookie-secure=never set Secure")
	}
	always := newEnv(t, func(c *dashboard.Config) { c.CookieSecure = dashboard.CookieAlways })
	if ck := sessionCookie(t, (&client{e: always, host: "hub.example.org"}).must(200, "POST", "/api/login", body)); !ck.Secure {
		t.Error("--http-cookie-secure=always did not set Secure")
	}
	if _, err := dashboard.ParseCookiePolicy("sometimes"); err == nil {
		t.Error("an unknown cookie policy was taken")
	}
}

func TestLoginAttemptsAreLimitedPerAddress(t *testing.T) {
	e := newEnv(t, func(c *dashboard.Config) { c.LoginBurst, c.LoginEvery = 3, time.Hour })
	c := e.anon()
	for i := range 3 {
		c.status(t, 401, "POST", "/api/login", `{"username":"alice","password":"guess`+string(rune('a'+i))+`"}`)
	}
	r := c.status(t, 429, "POST", "/api/login", `{"username":"alice","password":"pw-alice"}`)
	if r.header.Get("Retry-After") == "" || !strings.Contains(r.errorMessage(t), "too many login attempts") {
		t.Errorf("limited login: %s %v", r, r.header)
	}
}

// The login limit counts an IPv6 /64 as one address, as the XMPP limits
// do: a host that owns a /64 cannot try a new address for every guess.
func TestLoginLimitCountsIPv6Per64(t *testing.T) {
	e := newEnv(t, func(c *dashboard.Config) {
		c.LoginBurst, c.LoginEvery = 3, time.Hour
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	from := func(addr string) *client {
		return &client{e: e, headers: map[string]string{"X-Forwarded-For": addr}}
	}
	for i := range 3 {
		from(fmt.Sprintf("2001:db8:1:2::%x", i+1)).status(t, 401, "POST", "/api/login", `{"username":"alice","password":"guess"}`)
	}
	from("2001:db8:1:2:ffff:ffff:ffff:ffff").status(t, 429, "POST", "/api/login", `{"username":"alice","password":"pw-alice"}`)
	// The next /64, and IPv4 addresses, have their own.
	from("2001:db8:1:3::1").status(t, 200, "POST", "/api/login", `{"username":"alice","password":"pw-alice"}`)
	from("192.0.2.1").status(t, 200, "POST", "/api/login", `{"username":"alice","password":"pw-alice"}`)
}

func TestSessionsLogoutAndMe(t *testing.T) {
	e := newEnv(t)
	anon := e.anon()
	for _, path := range []string{"/api/me", "/api/devices", "/api/positions", "/api/fences", "/api/alerts", "/api/stream"} {
		if r := anon.status(t, 401, "GET", path, nil); !strings.Contains(r.errorMessage(t), "not logged in") {
			t.Errorf("%s: %s", path, r)
		}
	}
	(&client{e: e, cookie: "forged"}).status(t, 401, "GET", "/api/me", nil)
	alice := e.login("alice")
	var me struct {
		User struct{ Name string }
		CSRF string
	}
	alice.must(200, "GET", "/api/me", nil).json(t, &me)
	if me.User.Name != "alice" || me.CSRF != alice.csrf {
		t.Errorf("me: %+v (csrf %q)", me, alice.csrf)
	}
	r := alice.must(204, "POST", "/api/logout", nil)
	if ck := sessionCookie(t, r); ck.MaxAge >= 0 || ck.Value != "" {
		t.Errorf("logout did not clear the cookie: %+v", ck)
	}
	alice.status(t, 401, "GET", "/api/me", nil)

	// A session ends when its account is removed or demoted.
	bob := e.login("bob")
	if _, err := e.accounts.Update("bob", func(a *devices.Account) error { a.Role = devices.RoleDevice; return nil }); err != nil {
		t.Fatal(err)
	}
	bob.status(t, 401, "GET", "/api/me", nil)
}

func TestCookieChangesNeedTheCSRFToken(t *testing.T) {
	e := newEnv(t)
	root := e.login("root")
	body := map[string]any{"name": "car9"}
	missing := &client{e: e, cookie: root.cookie, noCSRF: true}
	if r := missing.status(t, 403, "POST", "/api/devices", body); !strings.Contains(r.errorMessage(t), "X-CSRF-Token") {
		t.Errorf("no CSRF header: %s", r)
	}
	wrong := &client{e: e, cookie: root.cookie, csrf: "not-the-token"}
	wrong.status(t, 403, "POST", "/api/devices", body)
	wrong.status(t, 403, "DELETE", "/api/devices/car1", nil)
	wrong.status(t, 403, "POST", "/api/logout", nil)
	// Another session's token is not this one's.
	other := e.login("root")
	(&client{e: e, cookie: root.cookie, csrf: other.csrf}).status(t, 403, "POST", "/api/devices", body)
	// Reads need none.
	missing.status(t, 200, "GET", "/api/devices", nil)
	root.status(t, 201, "POST", "/api/devices", body)
	// Bearer tokens need none.
	e.token("root").status(t, 201, "POST", "/api/devices", map[string]any{"name": "car10"})
}

func TestTokensActAsTheirAccountAndOnlyAdminsManageThem(t *testing.T) {
	e := newEnv(t)
	root := e.login("root")
	var made struct {
		ID, Name, Account, Token string
	}
	root.must(201, "POST", "/api/tokens", map[string]any{"name": "script", "account": "alice"}).json(t, &made)
	if made.Account != "alice" || made.Name != "script" || !strings.HasPrefix(made.Token, "gh_"+made.ID+"_") {
		t.Fatalf("token: %+v", made)
	}
	script := &client{e: e, bearer: made.Token}
	var me struct{ User struct{ Name string } }
	script.must(200, "GET", "/api/me", nil).json(t, &me)
	if me.User.Name != "alice" {
		t.Errorf("token acts as %q", me.User.Name)
	}
	// With alice's rights: no admin routes, alice's devices only.
	script.status(t, 403, "GET", "/api/tokens", nil)
	script.status(t, 404, "GET", "/api/devices/car2", nil)
	script.status(t, 200, "GET", "/api/devices/car1", nil)

	root.status(t, 409, "POST", "/api/tokens", map[string]any{"name": "script", "account": "alice"})
	root.status(t, 400, "POST", "/api/tokens", map[string]any{"name": "x", "account": "car1"})
	root.status(t, 400, "POST", "/api/tokens", map[string]any{"name": "x", "account": "nobody"})
	root.status(t, 400, "POST", "/api/tokens", map[string]any{"name": ""})
	var mine struct{ Account string }
	root.must(201, "POST", "/api/tokens", map[string]any{"name": "own"}).json(t, &mine)
	if mine.Account != "root" {
		t.Errorf("a token without account is for %q, want the caller", mine.Account)
	}
	var list []struct {
		ID, Name, Account string
		LastUsed          *time.Time `json:"last_used"`
	}
	root.must(200, "GET", "/api/tokens", nil).json(t, &list)
	if len(list) != 2 || list[0].Account != "alice" || list[0].LastUsed == nil || list[1].LastUsed != nil {
		t.Errorf("list: %+v", list)
	}
	if strings.Contains(string(root.must(200, "GET", "/api/tokens", nil).body), made.Token[len(made.Token)-10:]) {
		t.Error("the list shows a secret")
	}
	e.login("alice").status(t, 403, "POST", "/api/tokens", map[string]any{"name": "mine"})

	for _, bad := range []string{"Bearer nope", "Bearer gh_" + made.ID + "_WRONGSECRET", "Basic YWxpY2U6cHc=", "Bearer " + made.Token + "x"} {
		r := (&client{e: e, headers: map[string]string{"Authorization": bad}}).status(t, 401, "GET", "/api/me", nil)
		r.errorMessage(t)
	}
	root.must(204, "DELETE", "/api/tokens/"+made.ID, nil)
	script.status(t, 401, "GET", "/api/me", nil)
	root.status(t, 404, "DELETE", "/api/tokens/"+made.ID, nil)

	// A token dies with its account, and is not inherited by a new
	// account of the same name.
	bobs := e.token("bob")
	bobs.status(t, 200, "GET", "/api/me", nil)
	root.must(204, "DELETE", "/api/devices/bob", nil)
	bobs.status(t, 401, "GET", "/api/me", nil)
	root.must(201, "POST", "/api/devices", map[string]any{"name": "bob", "role": "operator"})
	bobs.status(t, 401, "GET", "/api/me", nil)
	if n := len(e.tokens.List()); n != 1 {
		t.Errorf("%d tokens left, want root's", n)
	}
}

func TestOnlyAdminsManageAccounts(t *testing.T) {
	e := newEnv(t)
	alice := e.login("alice")
	alice.status(t, 403, "POST", "/api/devices", map[string]any{"name": "car9"})
	alice.status(t, 403, "PATCH", "/api/devices/car1", map[string]any{"groups": []string{"x"}})
	alice.status(t, 403, "DELETE", "/api/devices/car1", nil)
	alice.status(t, 403, "POST", "/api/devices/car1/password", nil)
	alice.status(t, 403, "GET", "/api/tokens", nil)
	alice.status(t, 403, "DELETE", "/api/tokens/t1", nil)
	if _, ok := e.accounts.Get("car9"); ok {
		t.Error("an operator created an account")
	}
}

// X-Forwarded-For counts only from a trusted proxy: without one, changing
// it does not escape the login limit; behind one, each client has its own.
func TestLoginLimitAndProxies(t *testing.T) {
	attempt := func(e *env, client string) resp {
		c := e.anon()
		c.headers = map[string]string{"X-Forwarded-For": client}
		return c.do("POST", "/api/login", `{"username":"alice","password":"guess"}`)
	}
	direct := newEnv(t, func(c *dashboard.Config) { c.LoginBurst, c.LoginEvery = 2, time.Hour })
	attempt(direct, "198.51.100.1")
	attempt(direct, "198.51.100.2")
	if r := attempt(direct, "198.51.100.3"); r.code != 429 {
		t.Errorf("a forged X-Forwarded-For escaped the limit: %s", r)
	}

	proxied := newEnv(t, func(c *dashboard.Config) {
		c.LoginBurst, c.LoginEvery = 2, time.Hour
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	attempt(proxied, "198.51.100.1")
	attempt(proxied, "198.51.100.1")
	if r := attempt(proxied, "198.51.100.1"); r.code != 429 {
		t.Errorf("third attempt of one client behind the proxy: %s", r)
	}
	if r := attempt(proxied, "198.51.100.2"); r.code != 401 {
		t.Errorf("another client behind the proxy: %s, want 401", r)
	}
	// A client cannot pass for a trusted proxy by naming one.
	if r := attempt(proxied, "198.51.100.1, 127.0.0.1"); r.code != 429 {
		t.Errorf("client naming the proxy in X-Forwarded-For: %s, want 429", r)
	}
}

// Logins survive a restart of the hub: they are stored (by the hash of the
// cookie, with their expiry); a logout is stored as well.
func TestLoginsSurviveARestart(t *testing.T) {
	e := newEnv(t)
	alice := e.login("alice")
	bob := e.login("bob")
	bob.must(204, "POST", "/api/logout", nil)
	e.restart()
	var me struct {
		User struct{ Name string }
		CSRF string
	}
	alice.must(200, "GET", "/api/me", nil).json(t, &me)
	if me.User.Name != "alice" || me.CSRF != alice.csrf {
		t.Errorf("after a restart: %+v, want alice with csrf %q", me, alice.csrf)
	}
	alice.must(201, "POST", "/api/fences", `{"type":"Feature","properties":{"name":"After restart","groups":["north"],"radius":50},"geometry":{"type":"Point","coordinates":[13.4,52.5]}}`)
	bob.status(t, 401, "GET", "/api/me", nil)
	alice.must(204, "POST", "/api/logout", nil)
	e.restart()
	alice.status(t, 401, "GET", "/api/me", nil)
}
