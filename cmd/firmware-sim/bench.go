package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

const benchUsage = `firmware-sim bench measures a GeoHub under firmware-sim load, and with
--compare Prosody and ejabberd (Debian's) under the same load, one after
the other on this machine. Each server runs privately on loopback ports
with a temporary folder and is stopped by its PID at the end.

  go run ./cmd/firmware-sim bench               # or: make bench
  go run ./cmd/firmware-sim bench --compare     # needs internal/peers/install.sh prosody ejabberd

Phases, for each server: idle devices connected (RSS per device), logins
as fast as the server takes them, devices publishing XEP-0080 fixes back
to back to one node of pubsub.localhost that one client subscribed to.
docs/benchmarks.md says what is measured and how.

Flags:
`

type benchConfig struct {
	geohub                string
	compare, quick        bool
	abuse                 int     // abusive clients in the publish phase
	rate                  float64 // publishes/s of the whole fleet; 0: back to back
	lean                  bool    // the publishing devices are raw clients with pre-built stanzas (bench_lean.go)
	compareAbuse          bool    // run again without them and divide
	logins, concurrency   int
	devices, idle         int
	duration, warmup      time.Duration
	timeout               time.Duration
	jsonOut               string
	servers               []string
	serverList            string
	progress              io.Writer
	settleEvery           time.Duration // how often settle polls the server
	nodeName, serviceName string
}

func parseBench(args []string) (benchConfig, error) {
	c := benchConfig{progress: os.Stderr, nodeName: "fleet", serviceName: "pubsub.localhost", settleEvery: 500 * time.Millisecond}
	fs := flag.NewFlagSet("firmware-sim bench", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), benchUsage); fs.PrintDefaults() }
	fs.StringVar(&c.geohub, "geohub", "", "geohub binary to run (default: build bin/geohub from this module)")
	fs.BoolVar(&c.compare, "compare", false, "run the same load against Prosody and ejabberd and print the three side by side")
	fs.StringVar(&c.serverList, "servers", "", "the servers to run, in order, comma-separated: geohub, geohub-component\n"+
		"(GeoHub as an XEP-0114 component of Prosody, the devices connected to Prosody), prosody, ejabberd\n"+
		"(default geohub, with --compare all three); the first is the one the ratios divide")
	fs.BoolVar(&c.quick, "quick", false, "small numbers for a quick check: 50 logins, 50 devices for 3s, 200 idle")
	fs.IntVar(&c.logins, "logins", 2000, "logins in the login phase")
	fs.IntVar(&c.concurrency, "concurrency", 32, "logins in progress at once (login and idle phases)")
	fs.IntVar(&c.devices, "devices", 1000, "devices publishing back to back, one publish in flight each")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "publish phase: how long to measure")
	fs.DurationVar(&c.warmup, "warmup", 5*time.Second, "publish phase: how long to run, once every device is online, before measuring")
	fs.IntVar(&c.idle, "idle", 10000, "idle devices connected to measure memory per session")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "for each login and publish")
	fs.StringVar(&c.jsonOut, "json", "", "also write the report as JSON to this file")
	fs.Float64Var(&c.rate, "rate", 0, "publish phase: publishes per second of the whole fleet, each device at an even share with ±50% jitter "+
		"(the rates fleets run at); 0: each device publishes back to back, one in flight")
	fs.BoolVar(&c.lean, "lean", false, "publish phase: devices send pre-built stanzas over raw connections (no movement simulation,\n"+
		"no XML decoding, no stream management), so the load generator takes a smaller share of the machine")
	fs.IntVar(&c.abuse, "abuse", 0, "abusive clients to run during the publish phase, a quarter each flooding the\n"+
		"subscriber with chat messages, reconnecting, brute-forcing passwords and stalling (docs/benchmarks.md)")
	fs.BoolVar(&c.compareAbuse, "compare-abuse", false, "with --abuse: run the server again without the abusive clients and\n"+
		"print the ratio of honest publishes/s")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	if c.quick {
		// Quick numbers, except where a flag says otherwise.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := func(name string, p *int, v int) {
			if !set[name] {
				*p = v
			}
		}
		quick("logins", &c.logins, 50)
		quick("devices", &c.devices, 50)
		quick("idle", &c.idle, 200)
		if !set["duration"] {
			c.duration = 3 * time.Second
		}
		if !set["warmup"] {
			c.warmup = time.Second
		}
		c.settleEvery = 200 * time.Millisecond
	}
	var errs []error
	for name, v := range map[string]int{"logins": c.logins, "devices": c.devices, "idle": c.idle, "concurrency": c.concurrency} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("--%s %d: want 1 or more", name, v))
		}
	}
	if c.rate < 0 {
		errs = append(errs, fmt.Errorf("--rate %g: want 0 or more", c.rate))
	}
	if c.abuse < 0 {
		errs = append(errs, fmt.Errorf("--abuse %d: want 0 or more", c.abuse))
	}
	if c.duration <= 0 || c.warmup < 0 {
		errs = append(errs, errors.New("--duration must be above 0 and --warmup 0 or more"))
	}
	c.servers = []string{kindGeoHub}
	if c.compare {
		c.servers = append(c.servers, kindProsody, kindEjabberd)
	}
	if c.serverList != "" {
		c.servers = nil
		for _, name := range strings.Split(c.serverList, ",") {
			name = strings.TrimSpace(name)
			if serverName[name] == "" {
				errs = append(errs, fmt.Errorf("--servers: unknown server %q (geohub, geohub-component, prosody or ejabberd)", name))
			}
			c.servers = append(c.servers, name)
		}
	}
	if c.compareAbuse && (c.abuse == 0 || len(c.servers) != 1) {
		errs = append(errs, errors.New("--compare-abuse needs --abuse and one server"))
	}
	return c, errors.Join(errs...)
}

// bench runs `firmware-sim bench`.
func bench(args []string) error {
	c, err := parseBench(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := runBench(ctx, c)
	if rep != nil && len(rep.Results) > 0 {
		rep.WriteText(os.Stdout)
		if c.jsonOut != "" {
			if jerr := rep.writeJSON(c.jsonOut); jerr != nil {
				err = errors.Join(err, jerr)
			}
		}
	}
	return err
}

// runBench checks the machine, then runs every server in turn, each
// stopped before the next starts. The report holds the servers that
// finished.
func runBench(ctx context.Context, c benchConfig) (*benchReport, error) {
	if err := raiseOpenFiles(c.idle + 256); err != nil {
		return nil, err
	}
	if c.geohub == "" && (slices.Contains(c.servers, kindGeoHub) || slices.Contains(c.servers, kindComponent)) {
		bin, err := buildGeoHub(ctx, c.progress)
		if err != nil {
			return nil, err
		}
		c.geohub = bin
	}
	rep := newReport(c)
	runs := []benchConfig{c}
	if c.compareAbuse {
		// The run with abuse first: the ratios in the table divide it.
		clean := c
		clean.abuse = 0
		runs = append(runs, clean)
	}
	for _, kind := range c.servers {
		for _, rc := range runs {
			res, err := runServer(ctx, rc, kind)
			if err != nil {
				return rep, fmt.Errorf("%s: %w", kind, err)
			}
			res.Version = serverVersion(c, kind)
			if rc.abuse > 0 {
				res.Version += fmt.Sprintf(" + %d abusive", rc.abuse)
			}
			rep.Results = append(rep.Results, res)
		}
	}
	return rep, nil
}

// raiseOpenFiles sets this process's soft limit on open files to its hard
// limit (children started from now on inherit it: the servers need as
// many as this process, one per idle device and some) and fails when that
// is below need.
func raiseOpenFiles(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raising the open-files limit to %d: %w", lim.Max, err)
		}
	}
	if lim.Cur < uint64(need) {
		return fmt.Errorf("the idle phase needs %d open files in this process and in each server, but the hard limit is %d: "+
			"raise it (ulimit -Hn as root, LimitNOFILE in a systemd unit) or lower --idle", need, lim.Cur)
	}
	return nil
}

// buildGeoHub builds bin/geohub in the module this command belongs to,
// found from the working folder up.
func buildGeoHub(ctx context.Context, progress io.Writer) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/geohub/geohub\n") {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the geohub module: give the hub binary with --geohub")
		}
		dir = parent
	}
	bin := filepath.Join(dir, "bin", "geohub")
	fmt.Fprintf(progress, "building %s\n", bin)
	version := "dev"
	if out, err := exec.Command("git", "-C", dir, "describe", "--always", "--dirty").Output(); err == nil {
		version = strings.TrimSpace(string(out))
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version="+version, "-o", bin, "./cmd/geohub")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/geohub: %w\n%s", err, out)
	}
	return bin, nil
}

// serverVersion names the server and its version, from the binary or the
// Debian package.
func serverVersion(c benchConfig, kind string) string {
	switch kind {
	case kindGeoHub, kindComponent:
		out, _ := exec.Command(c.geohub, "version").Output()
		v := "GeoHub " + strings.TrimPrefix(strings.TrimSpace(string(out)), "geohub ")
		if kind == kindComponent {
			v += " via " + serverVersion(c, kindProsody)
		}
		return v
	case kindProsody, kindEjabberd:
		name := serverName[kind]
		out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", kind).Output()
		if err != nil {
			return name
		}
		// Upstream's version, without Debian's revision.
		v, _, _ := strings.Cut(strings.TrimSpace(string(out)), "-")
		return name + " " + v
	}
	return kind
}

// benchReport is what a bench run measured.
type benchReport struct {
	Time    time.Time     `json:"time"`
	Machine benchMachine  `json:"machine"`
	Load    benchLoad     `json:"load"`
	Results []benchResult `json:"results"`
}

type benchMachine struct {
	CPU    string  `json:"cpu"`
	CPUs   int     `json:"cpus"`
	MemGiB float64 `json:"mem_gib"`
	OS     string  `json:"os"`
	Kernel string  `json:"kernel"`
	Go     string  `json:"go"`
	// LoadAvg is /proc/loadavg when the run began: other work on the
	// machine shows here (and in each result's other_cpu_s).
	LoadAvg string `json:"loadavg"`
}

type benchLoad struct {
	Logins      int     `json:"logins"`
	Concurrency int     `json:"concurrency"`
	Devices     int     `json:"devices"`
	DurationS   float64 `json:"duration_s"`
	WarmupS     float64 `json:"warmup_s"`
	Idle        int     `json:"idle"`
	Node        string  `json:"node"`
	Abuse       int     `json:"abuse,omitempty"`
	Rate        float64 `json:"rate,omitempty"` // paced publishes/s; 0: back to back
	Lean        bool    `json:"lean,omitempty"` // pre-built stanzas over raw connections
}

// benchResult is one server's figures. Latencies are in milliseconds,
// rates per second, memory in MiB or KiB as named.
type benchResult struct {
	Server  string `json:"server"`
	Version string `json:"version"`

	Logins      uint64  `json:"logins"`
	LoginsPerS  float64 `json:"logins_per_s"`
	LoginP50Ms  float64 `json:"login_p50_ms"`
	LoginP99Ms  float64 `json:"login_p99_ms"`
	LoginErrors uint64  `json:"login_errors"`
	// LoginCPUMicros is the server's CPU time over the login phase per
	// login: TCP, STARTTLS, SASL, bind.
	LoginCPUMicros float64 `json:"login_cpu_us"`

	DevicesOnline     int64   `json:"devices_online"` // at the start of the measurement
	Publishes         uint64  `json:"publishes"`      // acknowledged within the measurement
	PublishesPerS     float64 `json:"publishes_per_s"`
	AckP50Ms          float64 `json:"ack_p50_ms"`
	AckP90Ms          float64 `json:"ack_p90_ms"`
	AckP99Ms          float64 `json:"ack_p99_ms"`
	Notifications     uint64  `json:"notifications"` // received within the measurement
	NotificationsPerS float64 `json:"notifications_per_s"`
	NotifyP50Ms       float64 `json:"notify_p50_ms"`
	NotifyP90Ms       float64 `json:"notify_p90_ms"`
	NotifyP99Ms       float64 `json:"notify_p99_ms"`
	// NotificationsMissing are fixes acknowledged in the whole phase
	// whose notification never reached the subscriber.
	NotificationsMissing int64 `json:"notifications_missing"`
	// Delivery under pressure (GeoHub only): notifications superseded by
	// a newer fix of the same device before the subscriber read them, the
	// most bytes that waited for one session, sessions cut off.
	NotificationsConflated uint64  `json:"notifications_conflated"`
	PendingPeakKiB         float64 `json:"pending_peak_kib"`
	SessionsCutOff         uint64  `json:"sessions_cut_off"`
	// LatestAfterStopMs: how long after publishing stopped the subscriber
	// held every device's last acknowledged fix (-1: not within 10 s);
	// DevicesBehind: the devices whose last fix it still lacked then.
	LatestAfterStopMs float64           `json:"latest_after_stop_ms"`
	DevicesBehind     int               `json:"devices_behind"`
	PublishErrors     map[string]uint64 `json:"publish_errors"`
	// PublishSettled: the server was idle (under 5% of a CPU, RSS
	// stable) before the publish phase, so its CPU figures are the
	// phase's own.
	PublishSettled      bool    `json:"publish_settled"`
	RefusedPublishes    uint64  `json:"refused_publishes"`
	CPUSeconds          float64 `json:"cpu_s"`              // the server's, over the measurement
	CPUMicrosPerPublish float64 `json:"cpu_us_per_publish"` // the same, per acknowledged publish
	LoadCPUSeconds      float64 `json:"load_cpu_s"`         // firmware-sim's own, over the measurement
	OtherCPUSeconds     float64 `json:"other_cpu_s"`        // every other process's, over the measurement
	LoadSharePct        float64 `json:"load_share_pct"`     // firmware-sim's CPU time over the machine's CPU capacity in the window
	// PublishesPerSync (GeoHub only): publishes acknowledged ÷ group-commit
	// batches over the measurement; each batch is one disk sync.
	PublishesPerSync float64 `json:"publishes_per_sync,omitempty"`
	// AllocKiBPerPublish and GCsPerS (GeoHub only): the hub's heap
	// allocation per acknowledged publish and its garbage collections per
	// second over the measurement, from its /metrics.
	AllocKiBPerPublish float64 `json:"alloc_kib_per_publish,omitempty"`
	GCsPerS            float64 `json:"gcs_per_s,omitempty"`

	IdleDevices     int     `json:"idle_devices"` // connected in the idle phase
	IdleBeforeMiB   float64 `json:"idle_before_mib"`
	IdleAfterMiB    float64 `json:"idle_after_mib"`
	IdleSettled     bool    `json:"idle_settled"` // RSS was stable when read, both times
	RSSPerDeviceKiB float64 `json:"rss_per_idle_device_kib"`
	PeakRSSMiB      float64 `json:"peak_rss_mib"` // VmHWM at the end
	// SubscriberConnected: the subscriber's session was still up at the
	// end of the publish phase. Abuse: what --abuse's clients did.
	SubscriberConnected bool         `json:"subscriber_connected"`
	Abuse               *abuseCounts `json:"abuse,omitempty"`
	CPUTotalSeconds     float64      `json:"cpu_total_s"` // the server's, over the whole run
}

func newReport(c benchConfig) *benchReport {
	node := c.nodeName + " on " + c.serviceName
	if slices.Contains(c.servers, kindComponent) {
		node += " (on " + componentDomain + " through Prosody for " + kindComponent + ")"
	}
	return &benchReport{
		Time:    time.Now().UTC().Truncate(time.Second),
		Machine: machine(),
		Load: benchLoad{Logins: c.logins, Concurrency: c.concurrency, Devices: c.devices,
			DurationS: c.duration.Seconds(), WarmupS: c.warmup.Seconds(), Idle: c.idle,
			Node: node, Abuse: c.abuse, Rate: c.rate, Lean: c.lean},
	}
}

func machine() benchMachine {
	m := benchMachine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	read := func(file string) string { b, _ := os.ReadFile(file); return string(b) }
	for _, line := range strings.Split(read("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			m.CPU = strings.TrimSpace(v)
			break
		}
	}
	for _, line := range strings.Split(read("/proc/meminfo"), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
			m.MemGiB = round1(kb / (1 << 20))
		}
	}
	for _, line := range strings.Split(read("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			m.OS = strings.Trim(v, `"`)
		}
	}
	m.Kernel = strings.TrimSpace(read("/proc/sys/kernel/osrelease"))
	if f := strings.Fields(read("/proc/loadavg")); len(f) >= 3 {
		m.LoadAvg = strings.Join(f[:3], " ")
	}
	return m
}

func (r *benchReport) writeJSON(file string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o644)
}

// WriteText prints the report as a table, one column per server, and for
// each other server the ratio first server ÷ that server.
func (r *benchReport) WriteText(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "\nfirmware-sim bench, %s: %d × %s, %.0f GiB, %s, Linux %s, %s; load average %s at the start\n",
		r.Time.Format("2006-01-02 15:04 UTC"), m.CPUs, m.CPU, m.MemGiB, m.OS, m.Kernel, m.Go, m.LoadAvg)
	l := r.Load
	pace := "back to back"
	if l.Rate > 0 {
		pace = fmt.Sprintf("at %g publishes/s in all", l.Rate)
	}
	if l.Lean {
		pace += " (lean: pre-built stanzas)"
	}
	fmt.Fprintf(w, "load: %d logins, %d at a time; %d devices publishing %s to %s for %gs after %gs of warm-up; %d idle devices\n\n",
		l.Logins, l.Concurrency, l.Devices, pace, l.Node, l.DurationS, l.WarmupS, l.Idle)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{strings.Repeat(" ", 40), r.Results[0].Version}
	for _, o := range r.Results[1:] {
		head = append(head, o.Version, serverName[r.Results[0].Server]+" ÷")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	row := func(name string, digits int, get func(benchResult) float64) {
		g := get(r.Results[0])
		cells := []string{fmt.Sprintf("%-40s", name), num(g, digits)}
		for _, o := range r.Results[1:] {
			v := get(o)
			ratio := "—"
			// The load's and other processes' CPU are no figure of merit.
			if v != 0 && !strings.HasPrefix(name, "firmware-sim") && !strings.HasPrefix(name, "other") {
				ratio = fmt.Sprintf("%.2f", g/v)
			}
			cells = append(cells, num(v, digits), ratio)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	row("logins/s", 0, func(b benchResult) float64 { return b.LoginsPerS })
	row("login p50 ms", 2, func(b benchResult) float64 { return b.LoginP50Ms })
	row("login p99 ms", 2, func(b benchResult) float64 { return b.LoginP99Ms })
	row("server CPU µs per login", 0, func(b benchResult) float64 { return b.LoginCPUMicros })
	row("publishes/s (acknowledged)", 0, func(b benchResult) float64 { return b.PublishesPerS })
	row("ack p50 ms", 2, func(b benchResult) float64 { return b.AckP50Ms })
	row("ack p90 ms", 2, func(b benchResult) float64 { return b.AckP90Ms })
	row("ack p99 ms", 2, func(b benchResult) float64 { return b.AckP99Ms })
	row("notifications/s", 0, func(b benchResult) float64 { return b.NotificationsPerS })
	row("publish → notification p50 ms", 2, func(b benchResult) float64 { return b.NotifyP50Ms })
	row("publish → notification p90 ms", 2, func(b benchResult) float64 { return b.NotifyP90Ms })
	row("publish → notification p99 ms", 2, func(b benchResult) float64 { return b.NotifyP99Ms })
	row("server CPU s (publish phase)", 2, func(b benchResult) float64 { return b.CPUSeconds })
	row("server CPU µs per publish", 1, func(b benchResult) float64 { return b.CPUMicrosPerPublish })
	row("publishes per disk sync (GeoHub)", 1, func(b benchResult) float64 { return b.PublishesPerSync })
	row("heap KiB allocated per publish (GeoHub)", 1, func(b benchResult) float64 { return b.AllocKiBPerPublish })
	row("garbage collections/s (GeoHub)", 1, func(b benchResult) float64 { return b.GCsPerS })
	row("firmware-sim CPU s (publish phase)", 2, func(b benchResult) float64 { return b.LoadCPUSeconds })
	row("firmware-sim share of the machine %", 0, func(b benchResult) float64 { return b.LoadSharePct })
	row("other processes' CPU s (publish phase)", 2, func(b benchResult) float64 { return b.OtherCPUSeconds })
	row("server peak RSS MiB (VmHWM)", 1, func(b benchResult) float64 { return b.PeakRSSMiB })
	row("RSS per idle device KiB", 1, func(b benchResult) float64 { return b.RSSPerDeviceKiB })
	tw.Flush()
	for _, o := range r.Results {
		var notes []string
		if o.LoginErrors > 0 {
			notes = append(notes, fmt.Sprintf("%d failed logins", o.LoginErrors))
		}
		if len(o.PublishErrors) > 0 || o.RefusedPublishes > 0 {
			notes = append(notes, fmt.Sprintf("publish errors %v, %d refused", o.PublishErrors, o.RefusedPublishes))
		}
		if o.NotificationsMissing > 0 {
			notes = append(notes, fmt.Sprintf("%d notifications missing", o.NotificationsMissing))
		}
		if o.NotificationsConflated > 0 || o.PendingPeakKiB > 0 || o.SessionsCutOff > 0 {
			notes = append(notes, fmt.Sprintf("%d notifications conflated (superseded by a newer fix of the same device), "+
				"pending peak %.0f KiB, %d sessions cut off", o.NotificationsConflated, o.PendingPeakKiB, o.SessionsCutOff))
		}
		if o.LatestAfterStopMs >= 0 {
			notes = append(notes, fmt.Sprintf("the subscriber held every device's last fix %.0f ms after publishing stopped", o.LatestAfterStopMs))
		} else {
			notes = append(notes, fmt.Sprintf("the subscriber lacked the last fix of %d devices 10 s after publishing stopped", o.DevicesBehind))
		}
		if a := o.Abuse; a != nil {
			notes = append(notes, fmt.Sprintf("abusive clients during the publish phase: %d flooders wrote %d chat messages (%d logins), "+
				"%d reconnectors made %d STARTTLS handshakes, %d brute-forcers made %d wrong-password attempts, %d of %d stallers logged in "+
				"and never read; abuse errors %v", a.Flooders, a.Messages, a.FloodLogins, a.Reconnectors, a.Reconnects,
				a.BruteForcers, a.BadLogins, a.StallersOnline, a.Stallers, a.Errors))
		}
		if !o.SubscriberConnected {
			notes = append(notes, "the subscriber was disconnected")
		} else if o.Abuse != nil {
			notes = append(notes, "the subscriber stayed connected")
		}
		if !o.PublishSettled {
			notes = append(notes, "the server was still busy when the publish phase began")
		}
		if !o.IdleSettled {
			notes = append(notes, "RSS did not settle in the idle phase (figure less certain)")
		}
		if o.DevicesOnline < int64(l.Devices) {
			notes = append(notes, fmt.Sprintf("only %d of %d devices online when measuring", o.DevicesOnline, l.Devices))
		}
		fmt.Fprintf(w, "%s: %d idle devices took %.1f → %.1f MiB; %d publishes and %d notifications measured",
			o.Version, o.IdleDevices, o.IdleBeforeMiB, o.IdleAfterMiB, o.Publishes, o.Notifications)
		if len(notes) > 0 {
			fmt.Fprintf(w, "; %s", strings.Join(notes, "; "))
		}
		fmt.Fprintln(w)
	}
	if len(r.Results) == 2 && r.Results[0].Abuse != nil && r.Results[1].Abuse == nil && r.Results[1].PublishesPerS > 0 {
		a, b := r.Results[0].PublishesPerS, r.Results[1].PublishesPerS
		fmt.Fprintf(w, "honest publishes/s with %d abusive clients: %.0f; without: %.0f; ratio %.0f%%\n",
			r.Load.Abuse, a, b, 100*a/b)
	}
}

// num formats v with digits decimals and thousands separators.
func num(v float64, digits int) string {
	s := fmt.Sprintf("%.*f", digits, v)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := b.String()
	if neg {
		out = "-" + out
	}
	if frac != "" {
		out += "." + frac
	}
	return out
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
