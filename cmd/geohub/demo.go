package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/geohub/geohub/devices"
	firmwaresim "github.com/geohub/geohub/firmware-sim"
)

// The demo fleet: simulated vehicles that log in over loopback XMPP like
// any device, so that a newcomer sees something move at once. Their
// accounts are marked as demo accounts, are in the group demo, and exist
// only while the hub runs with --demo.
const (
	demoPrefix = "demo-"
	demoGroup  = "demo"
)

// startDemo makes n demo accounts (dropping demo accounts beyond n), gives
// each a fresh password and runs the fleet until the returned stop is
// called.
func startDemo(n int, accounts *devices.Store, addr string, directTLS bool, domain string, cert tls.Certificate, log *slog.Logger) (stop func(), err error) {
	var simAccounts []firmwaresim.Account
	for _, a := range accounts.List(devices.Filter{}) {
		i, err := strconv.Atoi(strings.TrimPrefix(a.Name, demoPrefix))
		if a.Demo && (err != nil || i > n) {
			if err := accounts.Remove(a.Name); err != nil {
				return nil, err
			}
		}
	}
	for i := 1; i <= n; i++ {
		name := demoPrefix + strconv.Itoa(i)
		a, ok := accounts.Get(name)
		switch {
		case !ok:
			if _, err := accounts.Add(devices.NewAccount{Name: name, Role: devices.RoleDevice, Groups: []string{demoGroup}, Demo: true}); err != nil {
				return nil, err
			}
		case !a.Demo:
			return nil, fmt.Errorf("--demo: %s is a real account; rename it or run fewer demo vehicles", name)
		}
		pw, err := accounts.SetPassword(name, "")
		if err != nil {
			return nil, err
		}
		simAccounts = append(simAccounts, firmwaresim.Account{JID: accounts.JID(name), Password: pw})
	}
	if len(cert.Certificate) == 0 {
		return nil, errors.New("--demo: no certificate")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	stats := firmwaresim.NewStats(n)
	opt := firmwaresim.Options{
		Hub: firmwaresim.Hub{Addr: addr, DirectTLS: directTLS,
			TLS: &tls.Config{RootCAs: pool, ServerName: domain, MinVersion: tls.VersionTLS12}},
		Accounts: simAccounts, LoginRate: 50, Stats: stats,
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := firmwaresim.Run(ctx, firmwaresim.DefaultScenario(n, firmwaresim.Box{}), opt); err != nil {
			log.Error("demo fleet", "err", err)
		}
	})
	wg.Go(func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s := stats.Snapshot()
				log.Info("demo fleet", "connected", s.Connected, "fixes_per_s", int(s.AckedPerSec), "errors", s.Errors)
			}
		}
	})
	log.Info("demo fleet started: simulated vehicles drive around Berlin", "vehicles", n, "group", demoGroup)
	return func() { cancel(); wg.Wait() }, nil
}

// removeDemo deletes the demo accounts a run with --demo left.
func removeDemo(accounts *devices.Store, log *slog.Logger) error {
	n := 0
	for _, a := range accounts.List(devices.Filter{}) {
		if a.Demo {
			if err := accounts.Remove(a.Name); err != nil {
				return err
			}
			n++
		}
	}
	if n > 0 {
		log.Info("removed the demo vehicles of an earlier run with --demo", "vehicles", n)
	}
	return nil
}

// loopback turns a listener address into one to dial on this machine.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
