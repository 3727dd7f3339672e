// Command firmware-sim runs a simulated fleet against a GeoHub (or any
// XMPP server with PEP, or an MQTT broker) over the wire, like real
// firmware, and reports what happened.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	firmwaresim "github.com/geohub/geohub/firmware-sim"
)

const usage = `firmware-sim runs simulated devices against a hub.

  geohub device add --count 50 --prefix sim- --format csv > accounts.csv
  firmware-sim --accounts accounts.csv --ca data/tls/cert.pem --devices 50

  firmware-sim bench [--compare]    (measures a hub: firmware-sim bench --help)

A scenario file (--scenario fleet.yaml) describes groups, movement, rates,
telemetry and chaos; without one, --devices vehicles drive around Berlin.
Ctrl-C stops the run; a JSON summary is printed at the end.

Flags:
`

type config struct {
	scenario, accounts, hub, ca, mqtt, service, node, summary, record string
	devices                                                           int
	duration, statusEvery, timeout                                    time.Duration
	loginRate                                                         float64
	directTLS, insecure                                               bool
	seed                                                              int64
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "firmware-sim:", err)
		os.Exit(1)
	}
}

func parse(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("firmware-sim", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	fs.StringVar(&c.scenario, "scenario", "", "scenario file (YAML or JSON)")
	fs.IntVar(&c.devices, "devices", 10, "without a scenario: how many vehicles")
	fs.StringVar(&c.accounts, "accounts", "", "accounts as printed by geohub device add (text, csv or json)")
	fs.StringVar(&c.hub, "hub", "", "hub address host:port (default: the scenario's, else 127.0.0.1:5222)")
	fs.StringVar(&c.ca, "ca", "", "PEM certificate to trust for the hub (its data/tls/cert.pem)")
	fs.BoolVar(&c.insecure, "insecure", false, "do not check the hub's certificate")
	fs.BoolVar(&c.directTLS, "direct-tls", false, "connect with TLS at once (XEP-0368) instead of STARTTLS")
	fs.StringVar(&c.mqtt, "mqtt", "", "MQTT broker URL for mqtt groups (default: the scenario's)")
	fs.StringVar(&c.service, "service", "", "publish fixes to a node of this pubsub service instead of PEP")
	fs.StringVar(&c.node, "node", "", "the node to publish fixes to (default: the XEP-0080 namespace)")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (default: the scenario's, else run until interrupted)")
	fs.Float64Var(&c.loginRate, "login-rate", 100, "new logins per second while the fleet starts")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "for each login and publish")
	fs.DurationVar(&c.statusEvery, "status-every", 10*time.Second, "how often to print a status line when not on a terminal")
	fs.StringVar(&c.summary, "summary", "", "write the JSON summary to this file instead of standard output")
	fs.StringVar(&c.record, "record", "", "write every acknowledged fix to this file, one JSON object per line")
	fs.Int64Var(&c.seed, "seed", 0, "random seed (default: the scenario's)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.accounts == "" {
		return c, errors.New("--accounts is required: make them with geohub device add --count N --format csv")
	}
	return c, nil
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "bench" {
		return bench(args[1:])
	}
	c, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	sc, err := scenario(c)
	if err != nil {
		return err
	}
	accounts, err := firmwaresim.LoadAccounts(c.accounts)
	if err != nil {
		return err
	}
	hub, err := hubOf(c, sc)
	if err != nil {
		return err
	}
	total := 0
	for _, g := range sc.Groups {
		total += g.Count
	}
	stats := firmwaresim.NewStats(total)
	opt := firmwaresim.Options{Hub: hub, Target: firmwaresim.Target{Service: c.service, Node: c.node},
		MQTT: firmwaresim.MQTT{Broker: c.mqtt}, Accounts: accounts, LoginRate: c.loginRate, Stats: stats}
	if opt.MQTT.Broker == "" {
		opt.MQTT.Broker = sc.MQTT.Broker
	}
	if c.record != "" {
		f, err := os.Create(c.record)
		if err != nil {
			return err
		}
		defer f.Close()
		opt.Acked = recorder(f)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	statusCtx, endStatus := context.WithCancel(context.Background())
	statusDone := make(chan struct{})
	go func() {
		firmwaresim.RunStatus(statusCtx, os.Stderr, stats, c.statusEvery)
		close(statusDone)
	}()
	err = firmwaresim.Run(ctx, sc, opt)
	endStatus()
	<-statusDone
	if err != nil {
		return err
	}
	out := io.Writer(os.Stdout)
	if c.summary != "" {
		f, err := os.Create(c.summary)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	return stats.Summary().WriteJSON(out)
}

func scenario(c config) (*firmwaresim.Scenario, error) {
	var sc *firmwaresim.Scenario
	if c.scenario != "" {
		var err error
		if sc, err = firmwaresim.LoadScenario(c.scenario); err != nil {
			return nil, err
		}
	} else {
		sc = firmwaresim.DefaultScenario(c.devices, firmwaresim.Box{})
	}
	if c.duration > 0 {
		sc.Duration = c.duration
	}
	if c.seed != 0 {
		sc.Seed = c.seed
	}
	return sc, nil
}

func hubOf(c config, sc *firmwaresim.Scenario) (firmwaresim.Hub, error) {
	h := firmwaresim.Hub{Addr: c.hub, DirectTLS: c.directTLS, Timeout: c.timeout}
	ca := c.ca
	if h.Addr == "" {
		h.Addr = sc.Hub.Addr
	}
	if ca == "" {
		ca = sc.Hub.CA
	}
	if h.Addr == "" {
		h.Addr = "127.0.0.1:5222"
	}
	h.TLS = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.insecure}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return h, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return h, fmt.Errorf("%s holds no PEM certificate", ca)
		}
		h.TLS.RootCAs = pool
	}
	return h, nil
}

// recorded is one acknowledged fix as --record writes it.
type recorded struct {
	Device string    `json:"device"`
	Time   time.Time `json:"time"`
	Lat    float64   `json:"lat"`
	Lon    float64   `json:"lon"`
}

func recorder(w io.Writer) func(firmwaresim.Account, firmwaresim.Fix) {
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	return func(a firmwaresim.Account, f firmwaresim.Fix) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(recorded{Device: a.JID, Time: f.Time, Lat: f.Lat, Lon: f.Lon})
	}
}
