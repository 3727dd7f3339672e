package main

import (
	"strings"
	"testing"
)

func TestS2SSettings(t *testing.T) {
	for _, c := range []struct {
		name      string
		cfg       s2sConfig
		domain    string
		component bool
		listen    string // "" for off
		err       string
	}{
		{"auto, localhost", s2sConfig{listen: "auto", idle: 1}, "localhost", false, "", ""},
		{"auto, a local name", s2sConfig{listen: "auto", idle: 1}, "hub.localhost", false, "", ""},
		{"auto, a public domain", s2sConfig{listen: "auto", idle: 1}, "example.org", false, ":5269", ""},
		{"off", s2sConfig{listen: "off", idle: 1}, "example.org", false, "", ""},
		{"a component leaves it to its upstream", s2sConfig{listen: "auto", idle: 1}, "example.org", true, "", ""},
		{"not with a component", s2sConfig{listen: ":5269", idle: 1}, "example.org", true, "", "--component"},
		{"hosts", s2sConfig{listen: "127.0.0.1:0", idle: 1, hosts: "a.test=127.0.0.1:1, B.test=127.0.0.1:2"}, "example.org", false, "127.0.0.1:0", ""},
		{"bad hosts", s2sConfig{listen: "127.0.0.1:0", idle: 1, hosts: "a.test"}, "example.org", false, "", "--s2s-hosts"},
		{"direct TLS beside STARTTLS", s2sConfig{listen: "auto", listenTLS: ":5270", idle: 1}, "example.org", false, ":5269", ""},
		{"direct TLS only", s2sConfig{listen: "off", listenTLS: "127.0.0.1:0", idle: 1}, "localhost", false, "", ""},
		{"bad direct TLS address", s2sConfig{listen: "off", listenTLS: "5270", idle: 1}, "example.org", false, "", "--s2s-tls"},
		{"no direct TLS with a component", s2sConfig{listen: "auto", listenTLS: ":5270", idle: 1}, "example.org", true, "", "--s2s-tls"},
		{"missing CA file", s2sConfig{listen: "127.0.0.1:0", idle: 1, caFile: "/nonexistent/ca.pem"}, "example.org", false, "", "--s2s-ca"},
	} {
		fc, err := c.cfg.federation(c.domain, c.component)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one naming %s", c.name, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.listen == "" && c.cfg.listenTLS == "" && fc != nil,
			(c.listen != "" || c.cfg.listenTLS != "") && (fc == nil || fc.Listen != c.listen || fc.ListenTLS != c.cfg.listenTLS):
			t.Errorf("%s: %+v, want listeners %q and %q", c.name, fc, c.listen, c.cfg.listenTLS)
		}
		if c.name == "hosts" && fc != nil && (fc.Hosts["a.test"] != "127.0.0.1:1" || fc.Hosts["b.test"] != "127.0.0.1:2") {
			t.Errorf("hosts: %v", fc.Hosts)
		}
	}
}

// geohub device add with a bare JID at another domain makes a remote
// operator, without a password.
func TestRemoteOperatorFromTheCommandLine(t *testing.T) {
	data := t.TempDir()
	out := mustGeohub(t, "device", "add", "Alice@Company.example", "--role", "operator", "--group", "fleet", "--data", data)
	if !strings.HasPrefix(out, "alice@company.example (remote: no password") {
		t.Errorf("device add: %q", out)
	}
	if out, err := geohub(t, nil, "device", "add", "bob@company.example", "--data", data); err == nil || !strings.Contains(out, "operator or an admin") {
		t.Errorf("a remote device: %v %q", err, out)
	}
	if out := mustGeohub(t, "device", "list", "--data", data); !strings.Contains(out, "alice@company.example") {
		t.Errorf("device list: %q", out)
	}
}
