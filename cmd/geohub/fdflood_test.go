package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/servetest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// TestFloodPastTheDescriptorLimit runs geohub serve with 256 file
// descriptors and opens 600 connections to its STARTTLS port. The hub must
// refuse those over its cap instead of running out of descriptors, say so on
// /readyz while /healthz stays up, and, once the flood ends, let a client
// log in on both XMPP ports.
func TestFloodPastTheDescriptorLimit(t *testing.T) {
	const flood = 600
	data := filepath.Join(t.TempDir(), "data")
	pw := strings.Fields(mustGeohub(t, "device", "add", "car", "--data", data))[1]
	limited := filepath.Join(t.TempDir(), "geohub-limited")
	script := "#!/bin/sh\nulimit -n 256 || exit 1\nexec " + binary + " \"$@\"\n"
	if err := os.WriteFile(limited, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	hub := servetest.Start(t, limited, data)
	web := &http.Client{Timeout: xmpptest.Timeout}
	get := func(path string) (int, string) {
		res, err := web.Get("http://" + hub.HTTP + path)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}

	conns := make([]net.Conn, 0, flood)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range flood {
		c, err := net.DialTimeout("tcp", hub.C2S, xmpptest.Timeout)
		if err != nil {
			t.Fatalf("dial during the flood: %v", err)
		}
		conns = append(conns, c)
	}
	// The hub holds what it can and closes the rest: at the cap, it is
	// alive but not ready.
	for deadline := time.Now().Add(xmpptest.Timeout); ; time.Sleep(20 * time.Millisecond) {
		code, body := get("/readyz")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "cap") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("/readyz during the flood: %d %q, want 503 naming the connection cap", code, body)
			break
		}
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz during the flood: %d", code)
	}
	_, metrics := get("/metrics")
	if !strings.Contains(metrics, "geohub_xmpp_connections_over_cap_total") || strings.Contains(metrics, "geohub_xmpp_connections_over_cap_total 0\n") {
		t.Errorf("no connection counted over the cap in /metrics")
	}

	for _, c := range conns {
		c.Close()
	}
	conns = conns[:0]
	for deadline := time.Now().Add(xmpptest.Timeout); ; time.Sleep(20 * time.Millisecond) {
		code, body := get("/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("/readyz after the flood: %d %q", code, body)
			break
		}
	}
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// A stream first, with a deadline: a dead listener leaves a dial
	// hanging in the kernel's backlog.
	xmpptest.DialRaw(t, hub.C2S).Open("localhost")
	o := xmpptest.Options{Addr: hub.C2S, TLS: xmpptest.TrustPEM(cert)}
	if _, err := xmpptest.DialErr(t, o, "car", pw); err != nil {
		t.Errorf("login on the flooded STARTTLS port after the flood: %v", err)
	}
	o.Addr, o.DirectTLS = hub.C2STLS, true
	if _, err := xmpptest.DialErr(t, o, "car", pw); err != nil {
		t.Errorf("login on the direct TLS port after the flood: %v", err)
	}
}
