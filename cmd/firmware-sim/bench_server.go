package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	firmwaresim "github.com/geohub/geohub/firmware-sim"
	"github.com/geohub/geohub/internal/peers"
)

// benchServer is one XMPP server under load: started privately on a
// loopback port, with the bench's accounts, stopped by its PID.
type benchServer interface {
	// addr is the client listener (STARTTLS); cert the certificate to trust.
	addr() string
	cert() string
	// pid is the server process, the one whose CPU and memory are measured.
	pid() int
	// accounts are the devices; subscriber may create nodes on the pubsub
	// service (an operator, an admin or a local user).
	accounts() []firmwaresim.Account
	subscriber() firmwaresim.Account
	// logTail is the end of the server's output, for errors.
	logTail() string
	stop() error
	// pressure reads how the server delivered under load, where it says
	// (GeoHub's /metrics); ok is false elsewhere.
	pressure() (p pressureStats, ok bool, err error)
}

// serverKinds are the servers the bench knows, in the order it runs them.
const (
	kindGeoHub   = "geohub"
	kindProsody  = "prosody"
	kindEjabberd = "ejabberd"
	// kindComponent is GeoHub as the component of a Prosody, which holds
	// the devices' connections (bench_component.go).
	kindComponent = "geohub-component"
)

// serverName is how the report names each kind.
var serverName = map[string]string{kindGeoHub: "GeoHub", kindProsody: "Prosody", kindEjabberd: "ejabberd",
	kindComponent: "GeoHub as Prosody's component"}

// startServer starts a server of kind with n device accounts.
func startServer(ctx context.Context, c benchConfig, kind string, n int, progress func(string)) (benchServer, error) {
	switch kind {
	case kindGeoHub:
		return startGeoHub(ctx, c.geohub, n, progress)
	case kindComponent:
		return startComponent(ctx, c.geohub, n, progress)
	case kindProsody:
		return startProsody(n, progress)
	case kindEjabberd:
		return startEjabberd(n, progress)
	}
	return nil, fmt.Errorf("unknown server %q", kind)
}

// randomPassword is a fresh password: servers store salted SCRAM keys, so
// one per account costs nothing more at login than a shared one.
func randomPassword() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

const (
	devicePrefix = "bench-"
	subName      = "bench-sub"
)

func benchAccounts(n int) map[string]string {
	users := make(map[string]string, n)
	for i := 1; i <= n; i++ {
		users[devicePrefix+strconv.Itoa(i)] = randomPassword()
	}
	return users
}

func accountList(users map[string]string, n int) []firmwaresim.Account {
	out := make([]firmwaresim.Account, 0, n)
	for i := 1; i <= n; i++ {
		name := devicePrefix + strconv.Itoa(i)
		out = append(out, firmwaresim.Account{JID: name + "@localhost", Password: users[name]})
	}
	return out
}

// geohubServer is `geohub serve` on a temporary data folder.
type geohubServer struct {
	dir      string // temporary: data folder and the hub's log
	address  string
	httpAddr string // for /metrics
	devices  []firmwaresim.Account
	sub      firmwaresim.Account
	cmd      *exec.Cmd
	done     chan struct{}
}

// startGeoHub provisions n devices and an operator with `geohub device
// add`, then starts `geohub serve` with the per-device fix rate lifted (--fix-rate 0: the bench's
// devices publish back to back, far faster than any tracker, to find the
// hub's limit rather than the device's) and otherwise its defaults (a subscriber that falls behind
// gets each device's latest fix, not a cut-off), its HTTP listener on
// loopback for /metrics, and waits for its "geohub ready" log line.
// extra are more flags for serve; with them the hub may have no client
// listener.
func startGeoHub(ctx context.Context, bin string, n int, progress func(string), extra ...string) (_ *geohubServer, err error) {
	dir, err := os.MkdirTemp("", "geohub-bench-")
	if err != nil {
		return nil, err
	}
	g := &geohubServer{dir: dir}
	defer func() {
		if err != nil {
			g.stop()
		}
	}()
	data := filepath.Join(dir, "data")
	progress(fmt.Sprintf("provisioning %d devices (geohub device add --count %d)", n, n))
	out, err := exec.CommandContext(ctx, bin, "device", "add", "--count", strconv.Itoa(n), "--prefix", devicePrefix,
		"--format", "csv", "--data", data).Output()
	if err != nil {
		return nil, fmt.Errorf("geohub device add: %w%s", err, stderrOf(err))
	}
	if g.devices, err = firmwaresim.ParseAccounts(out); err != nil {
		return nil, fmt.Errorf("geohub device add: %w", err)
	}
	g.sub = firmwaresim.Account{JID: subName + "@localhost", Password: randomPassword()}
	if out, err := exec.CommandContext(ctx, bin, "device", "add", subName, "--role", "operator", "--password", g.sub.Password,
		"--data", data).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("geohub device add %s: %w\n%s", subName, err, out)
	}

	logFile, err := os.Create(filepath.Join(dir, "geohub.log"))
	if err != nil {
		return nil, err
	}
	g.cmd = exec.Command(bin, append([]string{"serve", "--data", data, "--c2s", "127.0.0.1:0", "--c2s-tls", "", "--http", "127.0.0.1:0",
		"--fix-rate", "0", "--log-format", "json"}, extra...)...)
	// SIGTERM when the bench dies without stopping it.
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	stderr, err := g.cmd.StderrPipe()
	if err == nil {
		err = g.cmd.Start()
	}
	if err != nil {
		logFile.Close()
		return nil, err
	}
	g.done = make(chan struct{})
	ready := make(chan error, 1)
	go func() {
		// Read the log until ready, then keep copying it into the file
		// until the hub ends: a hub whose log is not read blocks.
		defer close(g.done)
		defer logFile.Close()
		lines := bufio.NewScanner(stderr)
		lines.Buffer(make([]byte, 64<<10), 1<<20)
		for lines.Scan() {
			fmt.Fprintln(logFile, lines.Text())
			var rec struct{ Msg, Addr, Service string }
			json.Unmarshal(lines.Bytes(), &rec)
			switch {
			case rec.Msg == "listening" && rec.Service == "http":
				g.httpAddr = rec.Addr
			case rec.Msg == "listening":
				g.address = rec.Addr
			case rec.Msg == "geohub ready":
				ready <- nil
				io.Copy(logFile, stderr)
				g.cmd.Wait()
				return
			}
		}
		ready <- errors.New("geohub serve ended before it was ready")
		g.cmd.Wait()
	}()
	select {
	case err = <-ready:
	case <-time.After(60 * time.Second):
		err = errors.New("geohub serve not ready within 60s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil && g.address == "" && len(extra) == 0 {
		err = errors.New("geohub serve logged no listening address")
	}
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, g.logTail())
	}
	return g, nil
}

func (g *geohubServer) addr() string                    { return g.address }
func (g *geohubServer) cert() string                    { return filepath.Join(g.dir, "data", "tls", "cert.pem") }
func (g *geohubServer) pid() int                        { return g.cmd.Process.Pid }
func (g *geohubServer) accounts() []firmwaresim.Account { return g.devices }
func (g *geohubServer) subscriber() firmwaresim.Account { return g.sub }

func (g *geohubServer) logTail() string {
	b, _ := os.ReadFile(filepath.Join(g.dir, "geohub.log"))
	return tail(string(b), 20)
}

// stop sends SIGTERM to the hub by its PID (SIGKILL after 20 s) and
// removes the data folder.
func (g *geohubServer) stop() error {
	var err error
	if g.cmd != nil && g.cmd.Process != nil {
		g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.done:
		case <-time.After(20 * time.Second):
			g.cmd.Process.Kill()
			<-g.done
			err = errors.New("geohub serve did not stop within 20s of SIGTERM")
		}
	}
	return errors.Join(err, os.RemoveAll(g.dir))
}

// prosodySettings are the bench's changes to Prosody's defaults, for the
// same work per login as the other servers: SCRAM-SHA-256 with 4,096
// iterations, as GeoHub and ejabberd store passwords (Prosody 0.12:
// SCRAM-SHA-1, 10,000 iterations, which the client must repeat at every
// login). mod_limits (Debian's configuration enables it: 10 kB/s per
// client) is not loaded by internal/peers at all.
var prosodySettings = []string{
	`password_hash = "SHA-256"`,
	`default_iteration_count = 4096`,
}

// refServer is a reference server from internal/peers.
type refServer interface {
	PID() int
	Output() string
	Log() string
	Stop() error
}

// peerServer is Prosody or ejabberd as a benchmarked server.
type peerServer struct {
	srv               refServer
	address, certFile string
	devices           []firmwaresim.Account
	sub               firmwaresim.Account
}

func startProsody(n int, progress func(string)) (*peerServer, error) {
	sub := firmwaresim.Account{JID: subName + "@localhost", Password: randomPassword()}
	// On Prosody's pubsub component only administrators create nodes.
	p, err := peers.RunProsody(peers.ProsodyOptions{Users: map[string]string{subName: sub.Password},
		Admins: []string{sub.JID}, Global: prosodySettings})
	if err != nil {
		return nil, err
	}
	progress(fmt.Sprintf("registering %d devices (prosodyctl shell)", n))
	users := benchAccounts(n)
	if err := p.Register(users); err != nil {
		p.Stop()
		return nil, err
	}
	return &peerServer{srv: p, address: p.Addr, certFile: p.CertFile, devices: accountList(users, n), sub: sub}, nil
}

func startEjabberd(n int, progress func(string)) (*peerServer, error) {
	sub := firmwaresim.Account{JID: subName + "@localhost", Password: randomPassword()}
	e, err := peers.RunEjabberd(peers.EjabberdOptions{})
	if err != nil {
		return nil, err
	}
	progress(fmt.Sprintf("registering %d devices (ejabberdctl import_piefxis)", n))
	users := benchAccounts(n)
	users[subName] = sub.Password
	if err := e.Register(users); err != nil {
		e.Stop()
		return nil, err
	}
	return &peerServer{srv: e, address: e.Addr, certFile: e.CertFile, devices: accountList(users, n), sub: sub}, nil
}

func (s *peerServer) addr() string                    { return s.address }
func (s *peerServer) cert() string                    { return s.certFile }
func (s *peerServer) pid() int                        { return s.srv.PID() }
func (s *peerServer) accounts() []firmwaresim.Account { return s.devices }
func (s *peerServer) subscriber() firmwaresim.Account { return s.sub }
func (s *peerServer) logTail() string                 { return tail(s.srv.Output()+s.srv.Log(), 20) }
func (s *peerServer) stop() error                     { return s.srv.Stop() }

func (s *peerServer) pressure() (pressureStats, bool, error) { return pressureStats{}, false, nil }

// procStat is what /proc says about a process.
type procStat struct {
	cpu       time.Duration // user + system time so far, all threads
	rss, hwm  int64         // resident set now and at its peak (VmRSS, VmHWM), bytes
	openFiles int64         // soft limit on open files
}

// readProc reads /proc/<pid>/stat, status and limits.
func readProc(pid int) (procStat, error) {
	var st procStat
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return st, err
	}
	// utime and stime are fields 14 and 15; the command name (field 2) is
	// in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return st, fmt.Errorf("%s/stat: %q", dir, b)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	stt, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return st, err
	}
	st.cpu = time.Duration(ut+stt) * time.Second / time.Duration(clockTicks)
	b, err = os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if k == "VmRSS" {
			st.rss = kb << 10
		} else {
			st.hwm = kb << 10
		}
	}
	b, err = os.ReadFile(filepath.Join(dir, "limits"))
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				st.openFiles, _ = strconv.ParseInt(f[0], 10, 64)
				if f[0] == "unlimited" {
					st.openFiles = 1 << 62
				}
			}
		}
	}
	return st, nil
}

// clockTicks is the kernel's USER_HZ, the unit of times in /proc/<pid>/stat,
// from the auxiliary vector (AT_CLKTCK); 100 where that cannot be read.
var clockTicks = func() int64 {
	b, err := os.ReadFile("/proc/self/auxv")
	for i := 0; err == nil && i+16 <= len(b); i += 16 {
		if binary.NativeEndian.Uint64(b[i:]) == 17 { // AT_CLKTCK
			if v := int64(binary.NativeEndian.Uint64(b[i+8:])); v > 0 {
				return v
			}
		}
	}
	return 100
}()

// machineBusy is the CPU time all processors spent outside idle and
// I/O wait since boot (/proc/stat), guests included in user time.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal guest guest_nice
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest times are in user already
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / time.Duration(clockTicks)
}

// selfCPU is the CPU time of this process: the load generator's.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settle polls the server every so often until its RSS is stable and it
// is idle: three polls in a row within 1% (and 256 KiB) of each other with
// under 5% of a CPU used, at most for limit. It returns the last RSS and
// whether it settled.
func settle(ctx context.Context, pid int, every, limit time.Duration) (int64, bool, error) {
	prev, err := readProc(pid)
	if err != nil {
		return 0, false, err
	}
	calm := 0
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-ctx.Done():
			return prev.rss, false, ctx.Err()
		case <-time.After(every):
		}
		cur, err := readProc(pid)
		if err != nil {
			return prev.rss, false, err
		}
		d := cur.rss - prev.rss
		if d < 0 {
			d = -d
		}
		if d <= max(cur.rss/100, 256<<10) && cur.cpu-prev.cpu < every/20 {
			calm++
		} else {
			calm = 0
		}
		prev = cur
		if calm >= 3 {
			return cur.rss, true, nil
		}
		if time.Now().After(deadline) {
			return cur.rss, false, nil
		}
	}
}

// stderrOf is the standard error an *exec.ExitError kept, if any.
func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return "\n" + string(ee.Stderr)
	}
	return ""
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
