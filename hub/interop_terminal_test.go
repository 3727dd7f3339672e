package hub_test

// Interoperability with Debian's terminal clients, which write their
// negotiation differently from the libraries the other tests use:
// go-sendxmpp (go-xmpp: whitespace after the stream header, <starttls/> and
// </auth>) and mcabber (loudmouth: <starttls></starttls> with an end tag),
// driven in tmux as a person would.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/xmpptest"
)

// goSendXMPP runs go-sendxmpp as user with args, trusting the hub's
// certificate (SSL_CERT_FILE: it is a Go program) and with a HOME of its
// own, so that no configuration of the machine's user is read.
func goSendXMPP(t *testing.T, h *hubtest.Hub, user, password string, args ...string) *exec.Cmd {
	cmd := exec.Command("go-sendxmpp", append([]string{"-u", user + "@localhost", "-p", password, "--timeout", "10"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "SSL_CERT_FILE="+h.CertFile)
	return cmd
}

func TestGoSendXMPPSends(t *testing.T) {
	peers.Require(t, "gosendxmpp")
	h := hubtest.Start(t)
	pw := h.Account(t, "car", devices.RoleDevice)
	alice := h.Login(t, "alice", devices.RoleOperator)
	alice.Send("<presence/>")
	alice.Sync()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"STARTTLS", []string{"-j", h.Addr}},
		{"direct TLS", []string{"-t", "-j", h.TLSAddr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := "hello over " + tc.name
			cmd := goSendXMPP(t, h, "car", pw, append(tc.args, "alice@localhost")...)
			cmd.Stdin = strings.NewReader(body)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go-sendxmpp: %v\n%s", err, out)
			}
			m := alice.WaitFor("the message", func(n *xmpptest.Node) bool { return n.Name() == "message" })
			if got := m.Child("", "body"); got == nil || got.Text != body || !strings.HasPrefix(m.Attr("from"), "car@localhost/") {
				t.Errorf("alice got %s, want %q from car", m, body)
			}
		})
	}
}

func TestGoSendXMPPListens(t *testing.T) {
	peers.Require(t, "gosendxmpp")
	h := hubtest.Start(t)
	pw := h.Account(t, "alice", devices.RoleOperator)
	car := h.Login(t, "car", devices.RoleDevice)
	cmd := goSendXMPP(t, h, "alice", pw, "-l", "-j", h.Addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	// Once alice's session is bound, a message reaches her either live or
	// from offline storage when her presence follows.
	waitFor(t, "go-sendxmpp's session", func() bool { return h.Server.Sessions() == 2 })
	car.Send("<message to='alice@localhost' type='chat'><body>from the car</body></message>")
	timeout := time.After(xmpptest.Timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("go-sendxmpp ended: %v", cmd.Wait())
			}
			if strings.HasSuffix(l, "car@localhost: from the car") {
				return
			}
			t.Logf("go-sendxmpp printed %q", l)
		case <-timeout:
			t.Fatal("go-sendxmpp printed no message")
		}
	}
}

// terminal is a private tmux server running one program.
type terminal struct {
	t    *testing.T
	sock string
}

func startTerminal(t *testing.T, dir string, argv ...string) *terminal {
	term := &terminal{t: t, sock: filepath.Join(dir, "tmux.sock")}
	term.tmux(append([]string{"new-session", "-d", "-x", "160", "-y", "40", "env", "HOME=" + dir, "TERM=xterm"}, argv...)...)
	t.Cleanup(func() { exec.Command("tmux", "-S", term.sock, "kill-server").Run() })
	return term
}

func (term *terminal) tmux(args ...string) string {
	term.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", term.sock}, args...)...).CombinedOutput()
	if err != nil {
		term.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// screen is what the terminal shows.
func (term *terminal) screen() string { return term.tmux("capture-pane", "-p") }

// waitScreen polls the screen until it contains want.
func (term *terminal) waitScreen(want string) {
	term.t.Helper()
	deadline := time.Now().Add(xmpptest.Timeout)
	for {
		s := term.screen()
		if strings.Contains(s, want) {
			return
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("the screen never showed %q:\n%s", want, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (term *terminal) typeLine(s string) {
	term.tmux("send-keys", "-l", s)
	term.tmux("send-keys", "Enter")
}

// mcabber (loudmouth, STARTTLS with Debian's default tls = 1) logs in as an
// operator, shows the roster with the group's device, and runs a chat
// command, at the hub's own JID in its roster, whose answer it keeps in its
// history.
func TestMcabber(t *testing.T) {
	peers.Require(t, "mcabber")
	h := hubtest.Start(t)
	pw := h.Account(t, "alice", devices.RoleOperator, "fleet")
	h.Account(t, "van-3", devices.RoleDevice, "fleet")
	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(h.Addr)
	rc := filepath.Join(dir, "mcabberrc")
	histo := filepath.Join(dir, "histo")
	conf := fmt.Sprintf(`set jid = alice@localhost
set password = %s
set server = 127.0.0.1
set port = %s
set tls = 1
set ssl_ca = %s
set resource = term
set disable_random_resource = 1
set logging = 1
set logging_dir = %s/
`, pw, port, h.CertFile, histo)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	term := startTerminal(t, dir, "mcabber", "-f", rc)
	term.waitScreen("Connection established")
	term.waitScreen("van-3@localhost")
	term.waitScreen("fleet")
	term.waitScreen("GeoHub") // the hub's contact, under its group
	term.typeLine("/say_to " + commandJID + " help")
	deadline := time.Now().Add(xmpptest.Timeout)
	for {
		b, _ := os.ReadFile(filepath.Join(histo, commandJID))
		if strings.Contains(string(b), "near LAT,LON RADIUS") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer to help in mcabber's history: %q\nscreen:\n%s", b, term.screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// commandJID is where operators send chat commands: the hub's own JID.
const commandJID = hubBare
