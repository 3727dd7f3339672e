package dashboard_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/buntdb"
)

// A new password ends the account's dashboard logins, with their live
// streams, whoever set it (the API here; geohub device passwd goes through
// the same account store). Other accounts stay logged in, and the
// account's API tokens, which are secrets of their own, keep working.
func TestPasswordChangeEndsDashboardLogins(t *testing.T) {
	e := newEnv(t)
	root := e.login("root")
	alice, alice2, bob := e.login("alice"), e.login("alice"), e.login("bob")
	script := e.token("alice")
	live := alice.stream(t)

	var out struct{ Password string }
	root.must(200, "POST", "/api/devices/alice/password", nil).json(t, &out)
	for _, c := range []*client{alice, alice2} {
		if r := c.status(t, 401, "GET", "/api/me", nil); !strings.Contains(r.errorMessage(t), "log in again") {
			t.Errorf("old login after a password change: %s", r)
		}
	}
	select {
	case <-live.done:
	case <-time.After(5 * time.Second):
		t.Error("the live stream of an old login still runs after the password changed")
	}
	bob.must(200, "GET", "/api/me", nil)
	root.must(200, "GET", "/api/me", nil)
	script.must(200, "GET", "/api/me", nil)
	e.anon().status(t, 401, "POST", "/api/login", map[string]string{"username": "alice", "password": "pw-alice"})
	e.anon().must(200, "POST", "/api/login", map[string]string{"username": "alice", "password": out.Password})
}

// A stored login made with other credentials than the account's current
// ones (the password changed while the hub was stopped) is refused after a
// restart.
func TestLoginFromOlderCredentialsIsRefused(t *testing.T) {
	e := newEnv(t)
	alice := e.login("alice")
	err := e.db.Update(func(tx *buntdb.Tx) error {
		var keys []string
		tx.AscendKeys("web:*", func(k, _ string) bool { keys = append(keys, k); return true })
		for _, k := range keys {
			v, _ := tx.Get(k)
			var m map[string]any
			json.Unmarshal([]byte(v), &m)
			m["cred"] = "an older password's"
			b, _ := json.Marshal(m)
			if _, _, err := tx.Set(k, string(b), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.restart()
	if r := alice.status(t, 401, "GET", "/api/me", nil); !strings.Contains(r.errorMessage(t), "password of this account changed") {
		t.Errorf("a login from older credentials: %s", r)
	}
}

// Removing an account ends its logins and revokes its API tokens, and the
// live streams of both end at once; other accounts stay logged in.
func TestAccountRemovalEndsLoginsTokensAndStreams(t *testing.T) {
	e := newEnv(t)
	root, alice, bob := e.login("root"), e.login("alice"), e.login("bob")
	script := e.token("alice")
	streams := []*sse{alice.stream(t), script.stream(t)}

	root.must(204, "DELETE", "/api/devices/alice", nil)
	for i, st := range streams {
		select {
		case <-st.done:
		case <-time.After(5 * time.Second):
			t.Errorf("live stream %d of the removed account still runs", i)
		}
	}
	alice.status(t, 401, "GET", "/api/me", nil)
	if r := script.status(t, 401, "GET", "/api/me", nil); !strings.Contains(r.errorMessage(t), "revoked") {
		t.Errorf("the removed account's token: %s", r)
	}
	bob.must(200, "GET", "/api/me", nil)
}
