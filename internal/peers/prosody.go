package peers

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/tlscert"
)

// Prosody is a private Prosody server started for one test: the reference
// GeoHub's behaviour is compared with. It serves the domain "localhost" with
// PEP (mod_pep) and a pubsub component "pubsub.localhost", accepts clients
// with STARTTLS on one loopback port and listens nowhere else: no s2s, no
// HTTP, no external components, no admin socket.
type Prosody struct {
	Dir      string // its folder: configuration, data, certificate, log
	Config   string // the configuration file
	Addr     string // client listener (STARTTLS), 127.0.0.1:port
	CertFile string // its self-signed certificate for "localhost", for clients to trust

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// ProsodyOptions say what a test's Prosody holds.
type ProsodyOptions struct {
	// Users are the accounts at localhost, name to password, registered
	// with prosodyctl before the server starts.
	Users map[string]string
	// Admins are bare JIDs of server administrators. On Prosody's pubsub
	// component only administrators may create nodes.
	Admins []string
}

// prosodyStartTimeout bounds how long Prosody may take to open its port.
const prosodyStartTimeout = 30 * time.Second

// prosodyUser is the system user the Debian package makes; Prosody refuses
// to run as root.
const prosodyUser = "prosody"

// StartProsody runs a Prosody until the test ends. It requires the peer
// "prosody" itself (skipping or failing the test like Require).
func StartProsody(t testing.TB, opts ProsodyOptions) *Prosody {
	t.Helper()
	Require(t, "prosody")
	dir, err := os.MkdirTemp("", "geohub-prosody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &Prosody{Dir: dir, Config: filepath.Join(dir, "prosody.cfg.lua")}

	// Its own self-signed certificate, the same kind the hub makes.
	if _, err := tlscert.Load(dir, []string{"localhost", "pubsub.localhost"}, "", ""); err != nil {
		t.Fatal(err)
	}
	p.CertFile = filepath.Join(dir, tlscert.CertFile)
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o750); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := os.WriteFile(p.Config, []byte(p.config(port, opts.Admins)), 0o640); err != nil {
		t.Fatal(err)
	}
	asRoot := os.Geteuid() == 0
	if asRoot {
		if err := chownTree(dir, prosodyUser); err != nil {
			t.Fatal(err)
		}
	}

	names := make([]string, 0, len(opts.Users))
	for name := range opts.Users {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// prosodyctl switches to the prosody user by itself when run as root.
		cmd := exec.Command("prosodyctl", "--config", p.Config, "register", name, "localhost", opts.Users[name])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("prosodyctl register %s: %v\n%s", name, err, out)
		}
	}

	argv := []string{"prosody", "--config", p.Config, "-F"}
	if asRoot {
		argv = append([]string{"runuser", "-u", prosodyUser, "--"}, argv...)
	}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = dir
	// Straight into a file: nothing to copy, nothing to race with.
	out, err := os.Create(filepath.Join(dir, "prosody.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p.cmd.Stdout, p.cmd.Stderr = out, out
	// Its own process group, so that stopping it stops runuser and Prosody.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("prosody output:\n%s\nprosody log:\n%s", p.Output(), p.Log())
		}
	})
	if err := p.waitReady(port); err != nil {
		t.Fatalf("prosody did not start: %v\noutput:\n%s\nlog:\n%s", err, p.Output(), p.Log())
	}
	return p
}

// Output returns what Prosody (and runuser) printed so far.
func (p *Prosody) Output() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "prosody.out"))
	return string(b)
}

// Log returns what Prosody has logged so far.
func (p *Prosody) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "prosody.log"))
	return string(b)
}

func (p *Prosody) config(port int, admins []string) string {
	q := strconv.Quote
	level := "info"
	if os.Getenv("GEOHUB_TEST_LOG") != "" {
		level = "debug"
	}
	var admin []string
	for _, a := range admins {
		admin = append(admin, q(a))
	}
	return fmt.Sprintf(`-- A private Prosody for one of GeoHub's tests, written by internal/peers.
data_path = %[1]s
pidfile = %[2]s
plugin_paths = { }
log = { { levels = { min = %[3]s }, to = "file", filename = %[4]s } }

-- Clients on one loopback port, with STARTTLS; no other listener.
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_interfaces = { "127.0.0.1" }
c2s_ports = { %[5]d }
c2s_direct_tls_ports = { }
s2s_ports = { }
s2s_direct_tls_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = true
ssl = { certificate = %[6]s, key = %[7]s }
certificates = %[9]s

authentication = "internal_hashed"
storage = "internal"
allow_registration = false
admins = { %[8]s }

modules_enabled = { "roster", "saslauth", "tls", "disco", "pep", "ping" }
modules_disabled = { "s2s", "s2s_auth_certs", "offline" }

VirtualHost "localhost"

Component "pubsub.localhost" "pubsub"
`, q(filepath.Join(p.Dir, "data")), q(filepath.Join(p.Dir, "prosody.pid")), q(level),
		q(filepath.Join(p.Dir, "prosody.log")), port,
		q(p.CertFile), q(filepath.Join(p.Dir, tlscert.KeyFile)), strings.Join(admin, ", "),
		q(filepath.Dir(p.CertFile)))
}

// waitReady polls the client port until Prosody accepts connections, the
// process exits, or the start timeout passes.
func (p *Prosody) waitReady(port int) error {
	deadline := time.NewTimer(prosodyStartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if strings.Contains(p.Log(), "Failed to open server port") {
			return fmt.Errorf("port %d: %s", port, "Prosody could not listen (taken since it was chosen?)")
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited: %v", p.cmd.ProcessState)
		case <-deadline.C:
			return fmt.Errorf("port %d not open within %v", port, prosodyStartTimeout)
		case <-tick.C:
		}
	}
}

// stop ends the process group by its id: SIGTERM, then SIGKILL if Prosody
// has not exited within 10 seconds.
func (p *Prosody) stop() {
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// chownTree gives dir and everything in it to the system user name.
func chownTree(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}
