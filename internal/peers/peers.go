// Package peers makes the real software that GeoHub's tests run against
// available to them: it checks for a peer (slixmpp, @xmpp/client, ...) and
// installs it with install.sh when it is missing. A test that still cannot
// have its peer is skipped with a loud reason, except in CI (CI or
// GEOHUB_REQUIRE_PEERS set), where it fails: there nothing may skip.
package peers

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Root returns the repository's root folder (where go.mod is).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's folder")
		}
		dir = parent
	}
}

// Python is the interpreter that sees Debian's Python packages; the first
// python3 on PATH may be another build.
const Python = "/usr/bin/python3"

// Chromium is Debian's browser, which the end-to-end tests of the
// dashboard (dashboard/web/e2e) and of Converse.js (hub/testdata/converse)
// drive with playwright-core.
const Chromium = "/usr/bin/chromium"

// sbinBinary finds a program a Debian package puts in /usr/sbin, which a
// user's PATH may lack; "" when it is not installed.
func sbinBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/sbin/" + name; fileExists(p) {
		return p
	}
	return ""
}

// waitListening polls until something accepts connections on addr, and
// says why not when the process (done closes when it ends) exits first or
// 30 s pass.
func waitListening(addr string, done <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("the server exited before it opened %s", addr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing opened %s within 30s", addr)
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// checks says how to tell that a peer is present.
var checks = map[string]func(root string) bool{
	"slixmpp": func(string) bool { return exec.Command(Python, "-c", "import slixmpp").Run() == nil },
	"prosody": func(string) bool {
		for _, cmd := range []string{"prosody", "prosodyctl"} {
			if _, err := exec.LookPath(cmd); err != nil {
				return false
			}
		}
		// The package's system user, which Prosody runs as when the tests
		// are root (it refuses to run as root).
		_, err := user.Lookup("prosody")
		return err == nil
	},
	"ejabberd": func(string) bool {
		if sbinBinary("ejabberdctl") == "" {
			return false
		}
		// The package's system user: ejabberdctl runs only as it (or as
		// root, switching to it).
		_, err := user.Lookup("ejabberd")
		return err == nil
	},
	"mosquitto": func(string) bool { return sbinBinary("mosquitto") != "" },
	"nginx":     func(string) bool { return sbinBinary("nginx") != "" },
	// systemd-analyze, which checks the service unit offline.
	"systemd": func(string) bool {
		_, err := exec.LookPath("systemd-analyze")
		return err == nil
	},
	"gosendxmpp": func(string) bool {
		_, err := exec.LookPath("go-sendxmpp")
		return err == nil
	},
	"mcabber": func(string) bool {
		for _, cmd := range []string{"mcabber", "tmux"} {
			if _, err := exec.LookPath(cmd); err != nil {
				return false
			}
		}
		return true
	},
	"chromium": func(root string) bool {
		if _, err := os.Stat(Chromium); err != nil {
			return false
		}
		_, err := os.Stat(filepath.Join(root, "dashboard/web/e2e/node_modules/playwright-core/package.json"))
		return err == nil
	},
	"converse": func(root string) bool {
		if _, err := os.Stat(Chromium); err != nil {
			return false
		}
		for _, pkg := range []string{"converse.js/dist/converse.min.js", "playwright-core/package.json"} {
			if _, err := os.Stat(filepath.Join(root, "hub/testdata/converse/node_modules", pkg)); err != nil {
				return false
			}
		}
		return true
	},
	"xmppjs": func(root string) bool {
		_, err := os.Stat(filepath.Join(root, "hub/testdata/xmppjs/node_modules/@xmpp/client/package.json"))
		return err == nil
	},
	"boshjs": func(root string) bool {
		for _, pkg := range []string{"stanza", "strophe.js", "@xmldom/xmldom"} {
			if _, err := os.Stat(filepath.Join(root, "hub/testdata/bosh/node_modules", pkg, "package.json")); err != nil {
				return false
			}
		}
		return true
	},
}

var (
	mu        sync.Mutex
	attempted = map[string]error{}
)

// Require makes sure the peer is installed, installing it once per test
// binary if needed, or skips (fails in CI) with the reason.
func Require(t testing.TB, peer string) {
	t.Helper()
	check, ok := checks[peer]
	if !ok {
		t.Fatalf("unknown peer %q", peer)
	}
	root := Root(t)
	if check(root) {
		return
	}
	mu.Lock()
	err, tried := attempted[peer]
	if !tried {
		out, ierr := exec.Command(filepath.Join(root, "internal/peers/install.sh"), peer).CombinedOutput()
		if ierr != nil {
			err = &installError{peer: peer, out: strings.TrimSpace(string(out)), err: ierr}
		}
		attempted[peer] = err
	}
	mu.Unlock()
	if err == nil && check(root) {
		return
	}
	msg := "PEER MISSING: " + peer + " is not installed and internal/peers/install.sh could not install it"
	if err != nil {
		msg += ": " + err.Error()
	}
	if os.Getenv("CI") != "" || os.Getenv("GEOHUB_REQUIRE_PEERS") != "" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPED LOUDLY: " + msg)
}

// RequireRoot skips the test loudly (fails it in CI, where tests run as
// root) unless it runs as root, which it needs for why.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	msg := "NOT ROOT: this test " + why
	if os.Getenv("CI") != "" || os.Getenv("GEOHUB_REQUIRE_PEERS") != "" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPED LOUDLY: " + msg)
}

type installError struct {
	peer, out string
	err       error
}

func (e *installError) Error() string { return e.err.Error() + "\n" + e.out }
