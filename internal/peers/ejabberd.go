package peers

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/tlscert"
	"github.com/geohub/geohub/internal/xmlesc"
)

// Ejabberd is a private ejabberd server (Debian's 23.01), started for a
// test (StartEjabberd) or a benchmark (RunEjabberd). Like Prosody it
// serves the domain "localhost" with PEP and a pubsub service
// "pubsub.localhost" and accepts clients with STARTTLS on one loopback
// port. Its Erlang distribution listens on another loopback port, chosen
// like the first, with a cookie of its own, so that ejabberdctl can reach
// it and nothing else can; no epmd is started. There is no s2s or HTTP
// listener, and a component listener only when EjabberdOptions.Components
// names components.
//
// It is configured for load as well as for tests: no traffic shaper,
// a listen backlog of 1024 and a deep per-connection queue (see
// docs/benchmarks.md for why).
type Ejabberd struct {
	Dir      string // its folder: configuration, spool, logs, certificate
	Config   string // ejabberd.yml
	Addr     string // client listener (STARTTLS), 127.0.0.1:port
	CertFile string // its self-signed certificate for "localhost", for clients to trust
	// ComponentAddrs are the XEP-0114 component listeners, 127.0.0.1:port,
	// one for each domain EjabberdOptions.Components names: ejabberd
	// routes every domain of a listener to each connection made to it.
	ComponentAddrs map[string]string

	spool, logs string
	cred        *syscall.Credential
	cmd         *exec.Cmd
	done        chan struct{} // closed when ejabberdctl has exited
	epmdBefore  map[int]bool  // epmd processes that ran before it started
	stopOnce    sync.Once
}

// EjabberdOptions say what an ejabberd holds.
type EjabberdOptions struct {
	// Users are the accounts at localhost, name to password, registered
	// with ejabberdctl once the server runs.
	Users map[string]string
	// Admins are bare JIDs of server administrators.
	Admins []string
	// Components are external components (XEP-0114), domain to shared
	// secret, each accepted on a loopback port of its own
	// (ComponentAddrs). Several connections may serve one domain.
	Components map[string]string
	// Balancing is ejabberd's domain_balancing type (such as bare_source)
	// for each component domain served by several connections, over
	// BalancedOver connections (component_number, which ejabberd 23.01
	// requires with a type).
	Balancing    map[string]string
	BalancedOver int
}

// ejabberdStartTimeout bounds how long ejabberd may take to open its port.
const ejabberdStartTimeout = 60 * time.Second

// ejabberdUser is the system user the Debian package makes; ejabberdctl
// runs only as root (switching to it) or as it.
const ejabberdUser = "ejabberd"

// StartEjabberd runs an ejabberd until the test ends. It requires the peer
// "ejabberd" itself (skipping or failing the test like Require).
func StartEjabberd(t testing.TB, opts EjabberdOptions) *Ejabberd {
	t.Helper()
	Require(t, "ejabberd")
	e, err := RunEjabberd(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.stop()
		if t.Failed() {
			t.Logf("ejabberd output:\n%s\nejabberd log:\n%s", e.Output(), e.Log())
		}
		os.RemoveAll(e.Dir)
	})
	return e
}

// RunEjabberd starts an ejabberd in a new temporary folder and returns
// once it accepts clients and its users are registered. ejabberd must be
// installed (internal/peers/install.sh ejabberd); RunEjabberd does not
// install it. The caller must call Stop, which also removes the folder.
func RunEjabberd(opts EjabberdOptions) (*Ejabberd, error) {
	if !checks["ejabberd"]("") {
		return nil, errors.New("ejabberd is not installed (internal/peers/install.sh ejabberd)")
	}
	dir, err := os.MkdirTemp("", "geohub-ejabberd-")
	if err != nil {
		return nil, err
	}
	e := &Ejabberd{Dir: dir, Config: filepath.Join(dir, "ejabberd.yml"),
		spool: filepath.Join(dir, "spool"), logs: filepath.Join(dir, "logs")}
	if err := e.start(opts); err != nil {
		e.stop()
		os.RemoveAll(dir)
		return nil, err
	}
	return e, nil
}

func (e *Ejabberd) start(opts EjabberdOptions) error {
	if _, err := tlscert.Load(e.Dir, []string{"localhost", "pubsub.localhost"}, "", ""); err != nil {
		return err
	}
	e.CertFile = filepath.Join(e.Dir, tlscert.CertFile)
	for _, d := range []string{e.spool, e.logs} {
		if err := os.Mkdir(d, 0o750); err != nil {
			return err
		}
	}
	port, err1 := freePort()
	distPort, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	e.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	componentPorts := map[string]int{}
	e.ComponentAddrs = map[string]string{}
	for d := range opts.Components {
		p, err := freePort()
		if err != nil {
			return err
		}
		componentPorts[d] = p
		e.ComponentAddrs[d] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	err := e.launch(map[string]string{
		"ejabberd.yml":    e.config(port, componentPorts, opts),
		"ejabberdctl.cfg": e.ctlConfig(distPort),
		// Names from this file alone: localhost, and no name server, so
		// the VM never asks one off loopback (see FederatedEjabberd).
		"inetrc": "{lookup,[\"file\"]}.\n{resolv_conf,\"\"}.\n{hosts_file,\"\"}.\n{host,{127,0,0,1},[\"localhost\"]}.\n",
	})
	if err != nil {
		return err
	}
	if len(opts.Users) > 0 {
		return e.Register(opts.Users)
	}
	return nil
}

// launch writes files (name to content) and a new Erlang cookie into
// Dir, runs ejabberd in the foreground and returns once it accepts
// clients.
func (e *Ejabberd) launch(files map[string]string) error {
	cookie := make([]byte, 16)
	rand.Read(cookie)
	// HOME is Dir: the node and ejabberdctl read the cookie from here.
	files[".erlang.cookie"] = strings.ToUpper(hex.EncodeToString(cookie))
	for name, content := range files {
		mode := os.FileMode(0o640)
		if name == ".erlang.cookie" {
			mode = 0o400
		}
		if err := os.WriteFile(filepath.Join(e.Dir, name), []byte(content), mode); err != nil {
			return err
		}
	}
	cred, err := serverCredential(ejabberdUser)
	if err != nil {
		return err
	}
	e.cred = cred
	if e.cred != nil {
		if err := chownTree(e.Dir, ejabberdUser); err != nil {
			return err
		}
	}

	e.epmdBefore = epmdProcesses()
	e.cmd = e.ejabberdctl("foreground")
	// Its own process group: ejabberdctl (a shell script), the Erlang VM
	// and its helpers stop together.
	e.cmd.SysProcAttr.Setpgid = true
	out, err := os.Create(filepath.Join(e.Dir, "ejabberd.out"))
	if err != nil {
		return err
	}
	defer out.Close()
	e.cmd.Stdout, e.cmd.Stderr = out, out
	if err := e.cmd.Start(); err != nil {
		return err
	}
	e.done = make(chan struct{})
	go func() {
		e.cmd.Wait()
		close(e.done)
	}()
	if err := e.waitReady(); err != nil {
		return fmt.Errorf("ejabberd did not start: %v\noutput:\n%s\nlog:\n%s", err, e.Output(), e.Log())
	}
	return nil
}

// ejabberdctl is the command ejabberdctl args... with this server's
// folders, run as the ejabberd user.
func (e *Ejabberd) ejabberdctl(args ...string) *exec.Cmd {
	argv := append([]string{"--config-dir", e.Dir, "--config", e.Config, "--spool", e.spool, "--logs", e.logs}, args...)
	cmd := exec.Command(sbinBinary("ejabberdctl"), argv...)
	cmd.Dir = e.Dir
	// Started as the ejabberd user directly (not through su or runuser,
	// whose PAM session would lower the open-files limit to 1024).
	cmd.Env = append(os.Environ(), "HOME="+e.Dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.cred, Pdeathsig: syscall.SIGTERM}
	return cmd
}

func (e *Ejabberd) config(port int, componentPorts map[string]int, opts EjabberdOptions) string {
	var admin []string
	for _, a := range opts.Admins {
		admin = append(admin, strconv.Quote(a))
	}
	level := "warning"
	if os.Getenv("GEOHUB_TEST_LOG") != "" {
		level = "debug"
	}
	q := strconv.Quote
	// The components (GeoHub instances) may create pubsub nodes: the
	// shared fences' node.
	componentACL, componentCreate := "", ""
	if len(componentPorts) > 0 {
		var domains []string
		for d := range opts.Components {
			domains = append(domains, q(d))
		}
		sort.Strings(domains)
		componentACL = "  components:\n    server: [" + strings.Join(domains, ", ") + "]\n"
		componentCreate = "\n    - allow: components"
	}
	return fmt.Sprintf(`# A private ejabberd for one of GeoHub's tests or benchmarks, written by internal/peers.
hosts: ["localhost"]
loglevel: %[1]s
log_rotate_count: 0
certfiles: [%[2]s, %[3]s]

listen:
  # Clients on one loopback port, with STARTTLS; no other listener.
  - port: %[4]d
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    access: c2s
    max_stanza_size: 262144
    # No traffic shaping (Debian's configuration limits every
    # non-admin connection to 3,000 bytes/s).
    shaper: none
    # Messages waiting in one connection's process before ejabberd closes
    # it; default 10,000, too few for a subscriber to a busy node.
    max_fsm_queue: 1000000
    # Pending connections the kernel holds for accept; default 5.
    backlog: 1024
%[6]s
auth_method: internal
auth_password_format: scram
# SCRAM-SHA-256 with 4,096 iterations, as GeoHub stores passwords.
auth_scram_hash: sha256

shaper: {}
shaper_rules:
  max_user_sessions: 10

acl:
  admin:
    user: [%[5]s]
  local:
    user_regexp: ""
%[7]saccess_rules:
  local:
    allow: local
  c2s:
    allow: all
  pubsub_createnode:
    - allow: local%[8]s

modules:
  mod_caps: {}
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_pubsub:
    hosts: ["pubsub.localhost"]
    access_createnode: pubsub_createnode
    plugins: ["flat", "pep"]
`, level, q(e.CertFile), q(filepath.Join(e.Dir, tlscert.KeyFile)), port, strings.Join(admin, ", "),
		ejabberdComponents(componentPorts, opts), componentACL, componentCreate)
}

// ejabberdComponents is the component listeners and the domain balancing
// of ejabberd.yml; empty without components.
func ejabberdComponents(ports map[string]int, opts EjabberdOptions) string {
	q := strconv.Quote
	domains := make([]string, 0, len(opts.Components))
	for d := range opts.Components {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	var b strings.Builder
	for _, d := range domains {
		fmt.Fprintf(&b, "  # External component (XEP-0114) %s.\n  - port: %d\n    ip: \"127.0.0.1\"\n    module: ejabberd_service\n"+
			"    hosts:\n      %s:\n        password: %s\n", d, ports[d], q(d), q(opts.Components[d]))
	}
	if len(opts.Balancing) > 0 {
		b.WriteString("\ndomain_balancing:\n")
		for _, d := range domains {
			if t := opts.Balancing[d]; t != "" {
				fmt.Fprintf(&b, "  %s:\n    type: %s\n    component_number: %d\n", q(d), t, max(opts.BalancedOver, 2))
			}
		}
	}
	return b.String()
}

// ctlConfig is ejabberdctl.cfg: the Erlang distribution on a private
// loopback port without epmd, the pid file in Dir.
func (e *Ejabberd) ctlConfig(distPort int) string {
	return fmt.Sprintf(`# Written by internal/peers.
ERLANG_NODE=ejabberd@localhost
ERL_DIST_PORT=%d
INET_DIST_INTERFACE=127.0.0.1
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"
EJABBERD_PID_PATH=%s
EJABBERD_BYPASS_WARNINGS=true
CONTRIB_MODULES_PATH=%s
`, distPort, filepath.Join(e.Dir, "ejabberd.pid"), filepath.Join(e.Dir, "contrib"))
}

// waitReady polls the client port and the pid file until ejabberd accepts
// connections, ejabberdctl exits, or the start timeout passes.
func (e *Ejabberd) waitReady() error {
	deadline := time.NewTimer(ejabberdStartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if e.PID() > 0 {
			c, err := net.DialTimeout("tcp", e.Addr, time.Second)
			if err == nil {
				c.Close()
				return nil
			}
		}
		select {
		case <-e.done:
			return fmt.Errorf("exited: %v", e.cmd.ProcessState)
		case <-deadline.C:
			return fmt.Errorf("%s not open within %v", e.Addr, ejabberdStartTimeout)
		case <-tick.C:
		}
	}
}

// PID is the process id of the Erlang VM that is the server (ejabberdctl
// runs it as a child), 0 before it has written its pid file.
func (e *Ejabberd) PID() int {
	b, err := os.ReadFile(filepath.Join(e.Dir, "ejabberd.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Register adds accounts at localhost, name to password, to the running
// server: one ejabberdctl import_piefxis (XEP-0227) for all of them, where
// ejabberdctl register would start an Erlang node per account.
func (e *Ejabberd) Register(users map[string]string) error { return e.register("localhost", users) }

// register adds accounts at host.
func (e *Ejabberd) register(host string, users map[string]string) error {
	names := make([]string, 0, len(users))
	for name := range users {
		names = append(names, name)
	}
	sort.Strings(names)
	b := []byte("<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='urn:xmpp:pie:0'>\n<host")
	b = xmlesc.Attr(b, "jid", host)
	b = append(b, ">\n"...)
	for _, name := range names {
		b = append(b, "<user"...)
		b = xmlesc.Attr(b, "name", name)
		b = xmlesc.Attr(b, "password", users[name])
		b = append(b, "/>\n"...)
	}
	b = append(b, "</host>\n</server-data>\n"...)
	f, err := os.CreateTemp(e.Dir, "users-*.xml")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if err := errors.Join(err, f.Close()); err != nil {
		return err
	}
	if e.cred != nil {
		if err := os.Chown(f.Name(), int(e.cred.Uid), int(e.cred.Gid)); err != nil {
			return err
		}
	}
	// Without --no-timeout ejabberdctl gives up on a command after a
	// minute, less than 10,000 accounts take to import (each one's SCRAM
	// keys are derived there).
	if out, err := e.ejabberdctl("--no-timeout", "import_piefxis", f.Name()).CombinedOutput(); err != nil {
		return fmt.Errorf("ejabberdctl import_piefxis: %v\n%s", err, out)
	}
	// import_piefxis reports success even when it skipped users: count.
	out, err := e.ejabberdctl("registered_users", host).Output()
	if err != nil {
		return fmt.Errorf("ejabberdctl registered_users: %v\n%s", err, out)
	}
	have := map[string]bool{}
	for _, name := range strings.Fields(string(out)) {
		have[name] = true
	}
	for _, name := range names {
		if !have[name] {
			return fmt.Errorf("ejabberd has no account %s after importing %d", name, len(names))
		}
	}
	return nil
}

// Output returns what ejabberdctl and the Erlang VM printed so far.
func (e *Ejabberd) Output() string {
	b, _ := os.ReadFile(filepath.Join(e.Dir, "ejabberd.out"))
	return string(b)
}

// Log returns what ejabberd has logged so far (warnings and errors).
func (e *Ejabberd) Log() string {
	b, _ := os.ReadFile(filepath.Join(e.logs, "ejabberd.log"))
	return string(b)
}

// Stop stops ejabberd (SIGTERM to its process group, on which the Erlang VM
// shuts down cleanly; SIGKILL after 20 seconds), stops any epmd that
// appeared while it ran, by its PID, and removes its folder. It may be
// called more than once.
func (e *Ejabberd) Stop() error {
	e.stop()
	return os.RemoveAll(e.Dir)
}

func (e *Ejabberd) stop() {
	e.stopOnce.Do(func() {
		if e.cmd == nil || e.cmd.Process == nil {
			return
		}
		vm := e.PID()
		stopGroup(e.cmd.Process.Pid, e.done, 20*time.Second)
		// ejabberdctl (bash) dies at once on SIGTERM; the VM takes a
		// moment to shut down: wait for it, by its PID.
		if vm > 0 && !waitGone(vm, 20*time.Second) {
			syscall.Kill(vm, syscall.SIGKILL)
			waitGone(vm, 5*time.Second)
		}
		// ejabberdctl's own fallback starts epmd when no distribution
		// port is set; ours is, but an epmd that appeared meanwhile and
		// runs as ejabberd's user is ours to stop.
		for pid := range epmdProcesses() {
			if !e.epmdBefore[pid] && (e.cred == nil || ownedBy(pid, e.cred.Uid)) {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
}

// waitGone polls until process pid has exited (or is a zombie), at most
// for d; false means it still runs.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			return true
		}
		// The state follows the command name in parentheses.
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// epmdProcesses returns the ids of the running epmd processes.
func epmdProcesses() map[int]bool {
	out := map[int]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "comm")); err == nil && strings.TrimSpace(string(comm)) == "epmd" {
			out[pid] = true
		}
	}
	return out
}

// ownedBy reports whether process pid runs as uid.
func ownedBy(pid int, uid uint32) bool {
	var st syscall.Stat_t
	return syscall.Stat(filepath.Join("/proc", strconv.Itoa(pid)), &st) == nil && st.Uid == uid
}
