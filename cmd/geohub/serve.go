package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/geohub/geohub/dashboard"
	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/internal/admin"
	"github.com/geohub/geohub/internal/history"
	"github.com/geohub/geohub/internal/scram"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/tlscert"
	"github.com/geohub/geohub/mqttbridge"
	"github.com/geohub/geohub/operations"
	"github.com/geohub/geohub/tracking"
)

type serveConfig struct {
	data, domain, c2s, c2sTLS, http string
	hubName                         string
	allowPlain, checkConfig         bool
	devicesCreateNodes              bool
	tlsCert, tlsKey                 string
	configFile                      string
	cpuProfile                      string
	commitWindow                    time.Duration
	gcHeapFloorMiB                  int
	changed                         []any // the settings not at their defaults, for the log: name, value, ...
	limits                          hub.Limits
	sm                              hub.StreamManagement
	offlineCap, iterations, demo    int
	archive                         hub.ArchiveConfig
	trails                          geoloc.Options
	historyCacheMiB                 int
	logLevel, logFormat             string
	httpTLS, metricsToken           bool
	cookieSecure                    string
	mapTiles, mapAttribution        string
	trustedProxies                  string // parsed into proxies by validate
	publicURL                       string
	proxies                         []netip.Prefix

	fixRate  float64 // per device, for tracking.Config
	fixBurst int

	mqtt mqttbridge.Config // the MQTT bridge: serve_mqtt.go
	s2s  s2sConfig         // federation: serve_s2s.go
	comp componentConfig   // component mode: serve_component.go
}

func serveFlags() (*serveConfig, func([]string) error) {
	c, fs := serveFlagSet()
	return c, func(args []string) error {
		pos, given, err := parseCommandLine(fs, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return fmt.Errorf("serve: unexpected argument %q", pos[0])
		}
		if c.configFile != "" {
			if err := applyConfigFile(fs, c.configFile, given); err != nil {
				return err
			}
		}
		c.comp.settle(fs, given, c)
		c.changed = changedSettings(fs)
		return c.validate()
	}
}

// serveFlagSet returns the flags of geohub serve, filling c.
func serveFlagSet() (*serveConfig, *flag.FlagSet) {
	fs := newFlagSet("serve", "geohub serve [flags]")
	c := &serveConfig{}
	d := hub.DefaultLimits
	fs.StringVar(&c.configFile, "config", "", "YAML file with the settings of these flags in sections (geohub config example prints one); "+
		"a flag or its environment variable wins over the file, the file over the default")
	fs.StringVar(&c.data, "data", "./data", "data folder: database, TLS certificate, admin socket")
	fs.StringVar(&c.domain, "domain", "", "XMPP domain (default: the one the data folder was set up with, else localhost)")
	fs.StringVar(&c.hubName, "hub-name", "", "localpart of the hub's own JID, which sends alerts and answers chat commands; no account may have it "+
		"(default: the one the data folder was set up with, else "+devices.DefaultHubName+")")
	fs.StringVar(&c.c2s, "c2s", ":5222", "client listener with STARTTLS; empty disables it")
	fs.StringVar(&c.c2sTLS, "c2s-tls", ":5223", "client listener with direct TLS (XEP-0368); empty disables it")
	fs.StringVar(&c.http, "http", ":8080", "HTTP listener: dashboard, API, health checks, /metrics; empty disables it")
	fs.BoolVar(&c.httpTLS, "http-tls", false, "serve --http over HTTPS with the hub's certificate (--tls-cert, or the self-signed one)")
	fs.StringVar(&c.cookieSecure, "http-cookie-secure", "auto", "when the login cookie is Secure: auto (HTTPS, X-Forwarded-Proto: https from --http-trusted-proxies, or a loopback host; "+
		"logins over plain HTTP from elsewhere are refused), always (behind a TLS proxy), never (plain-HTTP lab networks only)")
	fs.StringVar(&c.mapTiles, "map-tiles", defaultMapTiles, "street map tiles for the dashboard: a URL with {z}, {x} and {y}, drawn over the offline world map "+
		"(which shows when they cannot load); off: the offline world map only, and the dashboard asks nothing of any other server")
	fs.BoolVar(&c.metricsToken, "metrics-token", false, "/metrics asks for an API token (geohub token add; Prometheus: authorization credentials); off, /metrics is open to whoever reaches --http")
	fs.StringVar(&c.trustedProxies, "http-trusted-proxies", "", "reverse proxies in front of --http, as addresses or CIDR ranges separated by commas: "+
		"from them X-Forwarded-For names the client (login limit, WebSocket and BOSH rules), X-Forwarded-Proto says whether the client used TLS "+
		"(login cookie, WebSocket and BOSH rules), and Host names the server in host-meta")
	fs.StringVar(&c.publicURL, "http-public-url", "", "the URL clients reach --http at (e.g. https://hub.example.org); host-meta (XEP-0156) names the "+
		"WebSocket and BOSH endpoints under it; empty: the Host a trusted proxy forwards, else the address the connection reached")
	fs.StringVar(&c.mapAttribution, "map-attribution", "", "attribution the dashboard shows for --map-tiles (default for OpenStreetMap's tiles: "+osmAttribution+")")
	fs.BoolVar(&c.allowPlain, "allow-plain", false, "let clients connect without TLS (local development only; PLAIN stays TLS-only)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate chain (default: self-signed, kept in the data folder)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key for --tls-cert")
	fs.IntVar(&c.limits.MaxStanzaSize, "max-stanza-size", d.MaxStanzaSize, "largest stanza in bytes; bigger ones end the stream with policy-violation")
	fs.IntVar(&c.limits.MaxDepth, "max-depth", d.MaxDepth, "deepest element nesting in a stanza")
	fs.DurationVar(&c.limits.NegotiationTimeout, "negotiation-timeout", d.NegotiationTimeout, "time from connect to bound resource")
	fs.DurationVar(&c.limits.IdleTimeout, "idle-timeout", d.IdleTimeout, "silence before the hub pings a client; no answer within the same time (at most 60s) closes it")
	fs.IntVar(&c.limits.MaxAuthFailures, "max-auth-failures", d.MaxAuthFailures, "failed logins per address within --auth-failure-window before it is refused")
	fs.DurationVar(&c.limits.AuthFailureWindow, "auth-failure-window", d.AuthFailureWindow, "window for --max-auth-failures")
	fs.IntVar(&c.limits.MaxConnsPerIP, "max-conns-per-ip", d.MaxConnsPerIP, "open connections per address (0: unlimited)")
	fs.IntVar(&c.limits.MaxConns, "max-conns", 0, "open XMPP connections and sessions, all transports (0: the descriptor limit less max(64, 10%) in reserve; -1: unlimited)")
	fs.Float64Var(&c.limits.ConnRate, "conn-rate", d.ConnRate, "new connections per second per address (0: unlimited)")
	fs.IntVar(&c.limits.ConnBurst, "conn-burst", d.ConnBurst, "burst allowed above --conn-rate")
	fs.Float64Var(&c.limits.StanzaRate, "stanza-rate", d.StanzaRate, "stanzas per second a client may send beyond --stanza-burst; a faster one has its reads paused (0: unlimited)")
	fs.IntVar(&c.limits.StanzaBurst, "stanza-burst", d.StanzaBurst, "stanzas a client may send at once above --stanza-rate")
	fs.Float64Var(&c.limits.MessageRate, "message-rate", d.MessageRate, "messages per second a client may send beyond --message-burst (within --stanza-rate); a faster one has its reads paused (0: unlimited)")
	fs.IntVar(&c.limits.MessageBurst, "message-burst", d.MessageBurst, "messages a client may send at once above --message-rate")
	fs.Float64Var(&c.limits.ByteRate, "byte-rate", d.ByteRate, "bytes per second a client may send beyond --byte-burst; a faster one has its reads paused (0: unlimited)")
	fs.IntVar(&c.limits.ByteBurst, "byte-burst", d.ByteBurst, "bytes a client may send at once above --byte-rate")
	fs.IntVar(&c.limits.MaxPending, "max-pending", d.MaxPending, "bytes that may wait for a client that reads too slowly, after its notifications and presence are conflated, before it is cut off")
	fs.DurationVar(&c.limits.StallTimeout, "stall-timeout", d.StallTimeout, "a client that takes nothing of what waits for it for this long is cut off")
	fs.IntVar(&c.limits.OfflineBytes, "offline-bytes", d.OfflineBytes, "bytes of stored offline messages per account")
	fs.BoolVar(&c.devicesCreateNodes, "devices-create-nodes", false, "let devices create nodes on the pubsub service (operators and admins always can)")
	fs.Float64Var(&c.fixRate, "fix-rate", tracking.DefaultFixRate, "positions and readings one device may publish per second, sustained, over any transport; more are refused with policy-violation (0: unlimited)")
	fs.IntVar(&c.fixBurst, "fix-burst", tracking.DefaultFixBurst, "positions and readings one device may publish at once above --fix-rate")
	fs.IntVar(&c.offlineCap, "offline-cap", hub.DefaultOfflineCap, "stored offline messages per account")
	sm := hub.DefaultStreamManagement
	fs.DurationVar(&c.sm.ResumeWindow, "sm-resume-window", sm.ResumeWindow, "how long a session whose link dropped waits to be resumed (XEP-0198), available to others; "+
		"then its unacknowledged messages go to offline storage (0: no resumption)")
	fs.IntVar(&c.sm.MaxUnacked, "sm-max-unacked", sm.MaxUnacked, "stanzas sent to a client and not yet acknowledged (XEP-0198) before it is cut off")
	fs.IntVar(&c.sm.MaxHibernated, "sm-max-hibernated", sm.MaxHibernated, "sessions of one account waiting for resumption; beyond it the oldest ends")
	fs.DurationVar(&c.archive.Retention, "mam-retention", hub.DefaultArchiveRetention, "how long each account's message archive (XEP-0313) keeps messages (0: no archive)")
	fs.IntVar(&c.archive.Cap, "mam-cap", hub.DefaultArchiveCap, "messages kept per account's archive; past it, the oldest tenth goes")
	fs.DurationVar(&c.trails.Retention, "trail-retention", geoloc.DefaultRetention, "how long trail points are kept")
	fs.DurationVar(&c.trails.MinInterval, "trail-min-interval", 0, "thinning: keep at most one trail point per device this often (0: every fix)")
	fs.Float64Var(&c.trails.MinDistance, "trail-min-distance", 0, "thinning: keep a trail point only after the device moved this many metres (0: every fix)")
	fs.IntVar(&c.historyCacheMiB, "history-cache", history.DefaultCacheBytes>>20, "MiB of decoded trail blocks kept in memory for the map's trails and replay (0: none)")
	fs.DurationVar(&c.trails.SealEvery, "history-seal-every", geoloc.DefaultSealEvery, "how often trail points move from the database (write-ahead log) into the history file")
	fs.DurationVar(&c.trails.SealDelay, "history-seal-delay", geoloc.DefaultSealDelay, "trail points younger than this stay in the database, where late fixes are cheap to add")
	fs.DurationVar(&c.trails.TelemetryRetention, "telemetry-retention", geoloc.DefaultTelemetryRetention, "how long sensor readings are kept")
	fs.DurationVar(&c.trails.AlertRetention, "alert-retention", geoloc.DefaultAlertRetention, "how long alert records are kept")
	fs.IntVar(&c.iterations, "scram-iterations", scram.DefaultIterations, "PBKDF2 iterations for new passwords")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&c.checkConfig, "check-config", false, "check the configuration and exit")
	fs.DurationVar(&c.commitWindow, "commit-window", store.DefaultWindow, "while writes keep coming, how long one may wait for others to share its disk sync (0: a batch holds only what came during the previous sync)")
	fs.IntVar(&c.gcHeapFloorMiB, "gc-heap-floor", defaultHeapFloorMiB(), "MiB the heap may grow to before the garbage collector runs; once half of it is in use (live heap and goroutine stacks), collection is as GOGC=100 "+
		"(0: as GOGC=100 always; ignored when GOGC or GOMEMLIMIT is set). A small hub collects less often and spends less CPU per fix. The default is an eighth of the machine's or container's memory, at most 256")
	fs.StringVar(&c.cpuProfile, "cpu-profile", "", "write a CPU profile (go tool pprof) of the whole run to this file, for finding where the time goes")
	fs.IntVar(&c.demo, "demo", 0, "run this many simulated vehicles (demo accounts, group demo) for a first look")
	mqttFlags(fs, &c.mqtt)
	s2sFlags(fs, &c.s2s)
	componentFlags(fs, &c.comp)
	return c, fs
}

// validate reports every problem at once, each naming its flag.
func (c *serveConfig) validate() error {
	var errs []error
	for _, a := range []struct{ flag, addr string }{{"c2s", c.c2s}, {"c2s-tls", c.c2sTLS}, {"http", c.http}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("--%s %q: %w", a.flag, a.addr, err))
		}
	}
	if c.c2s == "" && c.c2sTLS == "" && c.comp.domain == "" {
		errs = append(errs, errors.New("--c2s and --c2s-tls are both empty: clients could not connect"))
	}
	if c.hubName != "" {
		if _, err := devices.NormalizeName(c.hubName); err != nil {
			errs = append(errs, fmt.Errorf("--hub-name: %w", err))
		}
	}
	positive := []struct {
		flag string
		v    float64
	}{
		{"max-stanza-size", float64(c.limits.MaxStanzaSize)}, {"max-depth", float64(c.limits.MaxDepth)},
		{"negotiation-timeout", c.limits.NegotiationTimeout.Seconds()}, {"idle-timeout", c.limits.IdleTimeout.Seconds()},
		{"max-auth-failures", float64(c.limits.MaxAuthFailures)}, {"auth-failure-window", c.limits.AuthFailureWindow.Seconds()},
		{"max-pending", float64(c.limits.MaxPending)}, {"offline-cap", float64(c.offlineCap)},
		{"stanza-burst", float64(c.limits.StanzaBurst)}, {"message-burst", float64(c.limits.MessageBurst)}, {"byte-burst", float64(c.limits.ByteBurst)},
		{"stall-timeout", c.limits.StallTimeout.Seconds()},
		{"sm-max-unacked", float64(c.sm.MaxUnacked)}, {"sm-max-hibernated", float64(c.sm.MaxHibernated)},
		{"offline-bytes", float64(c.limits.OfflineBytes)}, {"mam-cap", float64(c.archive.Cap)},
		{"scram-iterations", float64(c.iterations)}, {"trail-retention", c.trails.Retention.Seconds()},
		{"telemetry-retention", c.trails.TelemetryRetention.Seconds()}, {"alert-retention", c.trails.AlertRetention.Seconds()},
		{"history-seal-every", c.trails.SealEvery.Seconds()},
	}
	for _, p := range positive {
		if p.v <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive", p.flag))
		}
	}
	if c.sm.ResumeWindow < 0 {
		errs = append(errs, errors.New("--sm-resume-window cannot be negative (0: no resumption)"))
	}
	if c.archive.Retention < 0 {
		errs = append(errs, errors.New("--mam-retention must be 0 (no archive) or positive"))
	}
	if c.limits.MaxConns < -1 {
		errs = append(errs, errors.New("--max-conns must be -1 (unlimited), 0 (from the descriptor limit) or positive"))
	}
	if c.demo < 0 || c.demo > 10_000 {
		errs = append(errs, errors.New("--demo must be between 0 and 10000"))
	}
	if c.limits.MaxConnsPerIP > 0 && c.demo > c.limits.MaxConnsPerIP {
		errs = append(errs, fmt.Errorf("--demo %d exceeds --max-conns-per-ip %d: the demo vehicles all connect from 127.0.0.1", c.demo, c.limits.MaxConnsPerIP))
	}
	if c.demo > 0 && c.c2s == "" && c.c2sTLS == "" {
		errs = append(errs, errors.New("--demo needs --c2s or --c2s-tls: the demo vehicles connect like any device"))
	}
	if c.limits.MaxStanzaSize < 10000 {
		errs = append(errs, errors.New("--max-stanza-size must be at least 10000 (RFC 6120 §13.12)"))
	}
	if c.historyCacheMiB < 0 || c.trails.SealDelay < 0 || c.gcHeapFloorMiB < 0 {
		errs = append(errs, errors.New("--history-cache, --history-seal-delay and --gc-heap-floor cannot be negative"))
	}
	if c.trails.MinInterval < 0 || c.trails.MinDistance < 0 {
		errs = append(errs, errors.New("--trail-min-interval and --trail-min-distance cannot be negative"))
	}
	if c.limits.MaxConnsPerIP < 0 || c.limits.ConnRate < 0 || c.limits.ConnBurst < 0 {
		errs = append(errs, errors.New("--max-conns-per-ip, --conn-rate and --conn-burst cannot be negative"))
	}
	if c.limits.StanzaRate < 0 || c.limits.MessageRate < 0 || c.limits.ByteRate < 0 {
		errs = append(errs, errors.New("--stanza-rate, --message-rate and --byte-rate cannot be negative"))
	}
	if c.limits.ByteRate > 0 && c.limits.ByteBurst < c.limits.MaxStanzaSize {
		errs = append(errs, fmt.Errorf("--byte-burst %d is below --max-stanza-size %d: the largest stanza would always be paused", c.limits.ByteBurst, c.limits.MaxStanzaSize))
	}
	if c.limits.MaxPending < c.limits.MaxStanzaSize {
		errs = append(errs, fmt.Errorf("--max-pending %d is below --max-stanza-size %d: one large stanza would cut its recipient off", c.limits.MaxPending, c.limits.MaxStanzaSize))
	}
	if _, err := dashboard.ParseCookiePolicy(c.cookieSecure); err != nil {
		errs = append(errs, fmt.Errorf("--http-cookie-secure %q: want auto, always or never", c.cookieSecure))
	}
	if c.httpTLS && c.http == "" {
		errs = append(errs, errors.New("--http-tls needs --http"))
	}
	if c.mapTiles == "off" {
		c.mapTiles = ""
	}
	if c.mapTiles == defaultMapTiles && c.mapAttribution == "" {
		c.mapAttribution = osmAttribution
	}
	if err := dashboard.CheckTileURL(c.mapTiles); err != nil {
		errs = append(errs, fmt.Errorf("--map-tiles %q: %w", c.mapTiles, err))
	}
	if p, err := parsePrefixes(c.trustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("--http-trusted-proxies: %w", err))
	} else {
		c.proxies = p
	}
	if _, err := dashboard.ParsePublicURL(c.publicURL); err != nil {
		errs = append(errs, fmt.Errorf("--http-public-url %q: %w", c.publicURL, err))
	}
	if c.mapAttribution != "" && c.mapTiles == "" {
		errs = append(errs, errors.New("--map-attribution needs --map-tiles"))
	}
	if len(c.mapAttribution) > 1000 {
		errs = append(errs, errors.New("--map-attribution is longer than 1000 bytes"))
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		errs = append(errs, errors.New("give both --tls-cert and --tls-key, or neither"))
	} else if c.tlsCert != "" {
		if _, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey); err != nil {
			errs = append(errs, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", c.tlsCert, c.tlsKey, err))
		}
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		errs = append(errs, err)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", c.logFormat))
	}
	errs = append(errs, c.mqtt.Validate(), c.comp.validate())
	return errors.Join(errs...)
}

// The dashboard's street map by default: OpenStreetMap's standard tiles,
// with the attribution their usage policy asks for.
const (
	defaultMapTiles = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
	osmAttribution  = "© OpenStreetMap contributors"
)

// hubSM is the stream management configuration: a zero window on the
// command line means no resumption, which the hub spells negative.
func (c *serveConfig) hubSM() hub.StreamManagement {
	sm := c.sm
	if sm.ResumeWindow == 0 {
		sm.ResumeWindow = -1
	}
	return sm
}

// hubLimits are the limits as the hub takes them: a rate of 0 on the
// command line is unlimited, which the hub spells negative.
func (c *serveConfig) hubLimits() hub.Limits {
	l := c.limits
	if l.StanzaRate == 0 {
		l.StanzaRate = -1
	}
	if l.MessageRate == 0 {
		l.MessageRate = -1
	}
	if l.ByteRate == 0 {
		l.ByteRate = -1
	}
	return l
}

// parsePrefixes reads addresses and CIDR ranges separated by commas; an
// address is a range of one.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR range", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	if err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(c *serveConfig) *slog.Logger {
	level, _ := parseLevel(c.logLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func serve(args []string) error {
	c, parse := serveFlags()
	if err := parse(args); err != nil {
		return err
	}
	if c.checkConfig {
		if err := checkHubName(c.data, c.hubName); err != nil {
			return err
		}
		fmt.Println("configuration ok")
		return nil
	}
	log := newLogger(c)
	if c.cpuProfile != "" {
		stop, err := startCPUProfile(c.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer stop()
	}
	log.Info("settings that differ from their defaults", c.changed...)
	keepHeapFloor(uint64(c.gcHeapFloorMiB) << 20)
	dir, err := store.Lock(c.data)
	if err != nil {
		return err
	}
	defer dir.Unlock()
	db, err := dir.Open()
	if err != nil {
		return err
	}
	defer db.Close()
	accounts, err := devices.Open(db, devices.Options{Domain: c.domain, Iterations: c.iterations})
	if err != nil {
		return err
	}
	defer accounts.Close()
	domain := accounts.Domain()
	cert, err := tlscert.Load(dir.Path, []string{domain, "localhost"}, c.tlsCert, c.tlsKey)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	certs := tlscert.NewHolder(cert) // SIGHUP loads it again
	hist, err := openHistory(dir, c.historyCacheMiB)
	if err != nil {
		return err
	}
	defer hist.Close()
	commit := store.NewCommitter(db)
	commit.SetLogger(log)
	commit.SetWindow(c.commitWindow)
	trails := c.trails
	trails.Commit, trails.History, trails.Logger = commit, hist, log
	if trails.SealDelay == 0 {
		trails.SealDelay = -1 // the flag's 0 is no delay, geoloc's the default
	}
	geo, err := geoloc.OpenStore(db, trails)
	if err != nil {
		commit.Close()
		return err
	}
	tokens, err := operations.OpenTokens(db, accounts)
	if err != nil {
		commit.Close()
		return err
	}
	fed, err := c.s2s.federation(domain, c.comp.domain != "")
	if err != nil {
		commit.Close()
		return err
	}
	link := c.comp.link(log, c.limits.MaxStanzaSize)
	h, err := hub.New(hub.Config{
		Domain: domain, C2S: c.c2s, C2STLS: c.c2sTLS, AllowPlain: c.allowPlain,
		TLS:    certs.Config(),
		Limits: c.hubLimits(), OfflineCap: c.offlineCap, SM: c.hubSM(), Archive: c.archiveConfig(), Version: version, Logger: log,
		Commit: commit, DevicesCreateNodes: c.devicesCreateNodes, HubName: c.hubName,
		Federation: fed,
		PubSubHost: c.comp.domain, Upstream: upstreamOf(link),
	}, db, accounts)
	if err != nil {
		commit.Close()
		if errors.Is(err, devices.ErrExists) {
			return fmt.Errorf("--hub-name: %w", err)
		}
		return err
	}
	shard := c.comp.shard(accounts, geo, log, c.limits.MaxStanzaSize)
	app := tracking.New(tracking.Config{Hub: h, Accounts: accounts, Geo: geo, Logger: log,
		FixRate: c.fixRate, FixBurst: c.fixBurst, Fleet: fleetOf(shard)})
	defer func() {
		// After the hub's sessions end: what is queued gets written, then
		// the alerts and notifications it causes go out. The sealer stops
		// first; what it left in the database is sealed at the next start.
		geo.Close()
		commit.Close()
		app.Drain()
		h.Drain()
	}()
	defer app.Close()
	if err := h.Start(); err != nil {
		return err
	}
	defer h.Close()
	ready := h.Ready
	if link != nil {
		var stop func()
		stop, ready = c.comp.start(link, shard, h, accounts, geo, app)
		defer stop()
	}
	var bridge *mqttbridge.Bridge // nil: off
	if len(c.mqtt.Brokers) > 0 {
		if bridge, err = mqttbridge.New(c.mqtt, mqttbridge.Deps{Hub: h, Accounts: accounts, Geo: geo, Logger: log}); err != nil {
			return fmt.Errorf("--mqtt: %w", err)
		}
		bridge.Start()
		defer bridge.Close() // before the hub closes: what it stored is acknowledged
	}
	adm, err := admin.Listen(dir.File(admin.SocketFile), adminHandlers(accounts, geo, tokens, backupper{dir.Path, db, hist}), log)
	if err != nil {
		return err
	}
	defer adm.Close()
	var web *dashboard.Server // nil without --http
	if c.http != "" {
		var webTLS *tls.Config
		if c.httpTLS {
			webTLS = certs.Config()
		}
		web, err = dashboard.Start(dashboard.Config{Addr: c.http, Logger: log, Ready: ready, TLS: webTLS,
			Accounts: accounts, Geo: geo, Tokens: tokens, DB: db, Commit: commit, Hub: h, Alerts: app, Bridge: bridgeStatus(bridge), UI: dashboard.UI(),
			TileURL: c.mapTiles, TileAttribution: c.mapAttribution, CookieSecure: dashboard.CookiePolicy(c.cookieSecure),
			XMPPWebSocket: h.WebSocketHandler(), XMPPBOSH: h.BOSHHandler(hub.BOSHConfig{}), TrustedProxies: c.proxies, MetricsToken: c.metricsToken,
			PublicURL: c.publicURL, Fleet: fleetOf(shard)})
		if err != nil {
			return fmt.Errorf("--http: %w", err)
		}
		defer web.Close()
	}
	if c.demo == 0 {
		if err := removeDemo(accounts, log); err != nil {
			return err
		}
	} else {
		c2s, c2sTLS := h.Addrs()
		addr, direct := c2s, false
		if addr == "" {
			addr, direct = c2sTLS, true
		}
		stopDemo, err := startDemo(c.demo, accounts, loopback(addr), direct, domain, cert, log)
		if err != nil {
			return err
		}
		defer stopDemo() // before the hub closes
	}
	// Before "ready": a signal sent as soon as the hub says so stops it
	// cleanly.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	log.Info("geohub ready", "domain", domain, "data", dir.Path, "accounts", len(accounts.List(devices.Filter{})),
		"tls_sha256", tlscert.Fingerprint(cert), "version", version)
	if c.tlsCert == "" {
		log.Info("using a self-signed certificate; clients must trust it", "file", dir.File(tlscert.CertFile))
	}

	sdNotify("READY=1")
	got := <-sig
	for ; got == syscall.SIGHUP; got = <-sig {
		reload(c, args, reloadTargets{certs, web, h}, dir.Path, domain, log)
	}
	sdNotify("STOPPING=1")
	log.Info("shutting down", "signal", strings.ToLower(got.String()))
	start := time.Now()
	defer func() { log.Info("stopped", "took", time.Since(start).Round(time.Millisecond)) }()
	return nil
}

// archiveConfig is the hub's archive setting: --mam-retention 0 turns it
// off, where the hub's zero means the default.
func (c *serveConfig) archiveConfig() hub.ArchiveConfig {
	a := c.archive
	if a.Retention == 0 {
		a.Retention = -1
	}
	return a
}
