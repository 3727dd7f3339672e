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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/tlscert"
)

// Prosody is a private Prosody server, started for a test (StartProsody)
// or a benchmark (RunProsody): the reference GeoHub's behaviour is compared
// with. It serves the domain "localhost" with PEP (mod_pep) and a pubsub
// component "pubsub.localhost", accepts clients with STARTTLS on one
// loopback port and listens nowhere else (no s2s, no HTTP), except for
// external components when ProsodyOptions.Components names some; its admin
// socket (for Register) is a Unix socket inside Dir.
type Prosody struct {
	Dir      string // its folder: configuration, data, certificate, log
	Config   string // the configuration file
	Addr     string // client listener (STARTTLS), 127.0.0.1:port
	CertFile string // its self-signed certificate for "localhost", for clients to trust
	// ComponentAddr is the XEP-0114 component listener, 127.0.0.1:port,
	// when ProsodyOptions.Components names any.
	ComponentAddr string

	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	stopOnce sync.Once
}

// ProsodyOptions say what a Prosody holds.
type ProsodyOptions struct {
	// Users are the accounts at localhost, name to password, registered
	// with prosodyctl before the server starts.
	Users map[string]string
	// Admins are bare JIDs of server administrators. On Prosody's pubsub
	// component only administrators may create nodes.
	Admins []string
	// Global are extra lines (Lua) for the global section of the
	// configuration, such as a benchmark's settings; a later line wins
	// over the defaults written before it.
	Global []string
	// Components are external components (XEP-0114), domain to shared
	// secret, accepted on one loopback port (ComponentAddr).
	Components map[string]string
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
	p, err := RunProsody(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("prosody output:\n%s\nprosody log:\n%s", p.Output(), p.Log())
		}
		os.RemoveAll(p.Dir)
	})
	return p
}

// RunProsody starts a Prosody in a new temporary folder and returns once
// it accepts clients. Prosody must be installed (internal/peers/install.sh
// prosody); RunProsody does not install it. The caller must call Stop,
// which also removes the folder. When it fails to start, the error holds
// Prosody's output and log.
func RunProsody(opts ProsodyOptions) (*Prosody, error) {
	if !checks["prosody"]("") {
		return nil, errors.New("prosody is not installed (internal/peers/install.sh prosody)")
	}
	dir, err := os.MkdirTemp("", "geohub-prosody-")
	if err != nil {
		return nil, err
	}
	p := &Prosody{Dir: dir, Config: filepath.Join(dir, "prosody.cfg.lua")}
	if err := p.start(opts); err != nil {
		p.stop()
		os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

func (p *Prosody) start(opts ProsodyOptions) error {
	// Its own self-signed certificate, the same kind the hub makes.
	if _, err := tlscert.Load(p.Dir, []string{"localhost", "pubsub.localhost"}, "", ""); err != nil {
		return err
	}
	p.CertFile = filepath.Join(p.Dir, tlscert.CertFile)
	if err := os.Mkdir(filepath.Join(p.Dir, "data"), 0o750); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	componentPort := 0
	if len(opts.Components) > 0 {
		if componentPort, err = freePort(); err != nil {
			return err
		}
		p.ComponentAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(componentPort))
	}
	if err := os.WriteFile(p.Config, []byte(p.config(port, componentPort, opts)), 0o640); err != nil {
		return err
	}
	cred, err := serverCredential(prosodyUser)
	if err != nil {
		return err
	}
	if cred != nil {
		if err := chownTree(p.Dir, prosodyUser); err != nil {
			return err
		}
	}

	if err := p.registerOffline("localhost", opts.Users); err != nil {
		return err
	}
	return p.launch(cred, port)
}

// registerOffline adds accounts at host, name to password, before the
// server runs: prosodyctl register for each.
func (p *Prosody) registerOffline(host string, users map[string]string) error {
	names := make([]string, 0, len(users))
	for name := range users {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// prosodyctl switches to the prosody user by itself when run as root.
		cmd := exec.Command("prosodyctl", "--config", p.Config, "register", name, host, users[name])
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("prosodyctl register %s: %v\n%s", name, err, out)
		}
	}
	return nil
}

// Restart stops Prosody and starts it again on the same ports, with the
// same configuration and data; it returns once it accepts clients again.
func (p *Prosody) Restart() error {
	p.stop()
	p.stopOnce = sync.Once{}
	cred, err := serverCredential(prosodyUser)
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(p.Addr)
	n, _ := strconv.Atoi(port)
	return p.launch(cred, n)
}

// launch starts the process and waits until it accepts clients.
func (p *Prosody) launch(cred *syscall.Credential, port int) error {
	// Started as the prosody user directly (not through runuser, whose PAM
	// session would lower the open-files limit to 1024), in its own
	// process group, so that stopping it stops everything it started.
	p.cmd = exec.Command("prosody", "--config", p.Config, "-F")
	p.cmd.Dir = p.Dir
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred, Pdeathsig: syscall.SIGTERM}
	// Straight into a file: nothing to copy, nothing to race with.
	out, err := os.OpenFile(filepath.Join(p.Dir, "prosody.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.done = make(chan struct{})
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	if err := p.waitReady(port); err != nil {
		return fmt.Errorf("prosody did not start: %v\noutput:\n%s\nlog:\n%s", err, p.Output(), p.Log())
	}
	return nil
}

// PID is the process id of the Prosody server.
func (p *Prosody) PID() int { return p.cmd.Process.Pid }

// Stop stops Prosody (SIGTERM to its process group, SIGKILL after 10
// seconds) and removes its folder. It may be called more than once.
func (p *Prosody) Stop() error {
	p.stop()
	return os.RemoveAll(p.Dir)
}

// Register adds accounts at localhost, name to password, to the running
// server: one prosodyctl shell (through the admin socket) for all of them,
// where prosodyctl register would start Prosody's tooling once per account.
func (p *Prosody) Register(users map[string]string) error {
	var script strings.Builder
	names := make([]string, 0, len(users))
	for name := range users {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&script, "user:create(%s, %s)\n", luaQuote(name+"@localhost"), luaQuote(users[name]))
	}
	cmd := exec.Command("prosodyctl", "--config", p.Config, "shell")
	cmd.Stdin = strings.NewReader(script.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("prosodyctl shell: %v\n%s", err, out)
	}
	// The shell answers each line with "| OK: User created" or, on
	// failure, "! ...".
	if n := strings.Count(string(out), "| OK: User created"); n != len(names) {
		return fmt.Errorf("prosodyctl shell created %d of %d accounts:\n%s", n, len(names), lastLines(string(out), 20))
	}
	return nil
}

// luaQuote is s as a Lua string literal.
func luaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, "\\%03d", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
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

func (p *Prosody) config(port, componentPort int, opts ProsodyOptions) string {
	q := strconv.Quote
	level := "info"
	if os.Getenv("GEOHUB_TEST_LOG") != "" {
		level = "debug"
	}
	var admin []string
	for _, a := range opts.Admins {
		admin = append(admin, q(a))
	}
	componentPorts, components := "", ""
	if componentPort != 0 {
		componentPorts = strconv.Itoa(componentPort)
		domains := make([]string, 0, len(opts.Components))
		for d := range opts.Components {
			domains = append(domains, d)
		}
		sort.Strings(domains)
		for _, d := range domains {
			components += fmt.Sprintf("\nComponent %s\n\tcomponent_secret = %s\n", q(d), q(opts.Components[d]))
		}
	}
	return fmt.Sprintf(`-- A private Prosody for one of GeoHub's tests or benchmarks, written by internal/peers.
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
component_ports = { %[12]s }
component_interfaces = { "127.0.0.1" }
http_ports = { }
https_ports = { }
c2s_require_encryption = true
ssl = { certificate = %[6]s, key = %[7]s }
certificates = %[9]s

authentication = "internal_hashed"
storage = "internal"
allow_registration = false
admins = { %[8]s }

modules_enabled = { "roster", "saslauth", "tls", "disco", "pep", "ping", "admin_shell" }
modules_disabled = { "s2s", "s2s_auth_certs", "offline" }
admin_socket = %[10]s
%[11]s
VirtualHost "localhost"

Component "pubsub.localhost" "pubsub"
%[13]s`, q(filepath.Join(p.Dir, "data")), q(filepath.Join(p.Dir, "prosody.pid")), q(level),
		q(filepath.Join(p.Dir, "prosody.log")), port,
		q(p.CertFile), q(filepath.Join(p.Dir, tlscert.KeyFile)), strings.Join(admin, ", "),
		q(filepath.Dir(p.CertFile)), q(filepath.Join(p.Dir, "data", "prosody.sock")), strings.Join(opts.Global, "\n"), componentPorts, components)
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
	p.stopOnce.Do(func() {
		if p.cmd == nil || p.cmd.Process == nil {
			return
		}
		stopGroup(p.cmd.Process.Pid, p.done, 10*time.Second)
	})
}

// stopGroup sends SIGTERM to the process group pgid, then SIGKILL if done
// is not closed within grace.
func stopGroup(pgid int, done <-chan struct{}, grace time.Duration) {
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
}

// serverCredential is what to run a server as: the system user name when
// the caller is root (Prosody refuses root, ejabberd wants its own user),
// nil (the caller itself) otherwise.
func serverCredential(name string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
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
