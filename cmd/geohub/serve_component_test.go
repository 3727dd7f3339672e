package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// In component mode the client listeners are off unless asked for; the
// component's flags are checked together, each named.
func TestComponentFlags(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s3cret\n"), 0o600)
	base := []string{"--component", "geo.example.com", "--upstream", "127.0.0.1:5347", "--component-secret-file", secret}

	c, parse := serveFlags()
	if err := parse(base); err != nil {
		t.Fatal(err)
	}
	if c.c2s != "" || c.c2sTLS != "" || c.comp.secret != "s3cret" {
		t.Errorf("listeners %q %q, secret %q: want both off and the secret read", c.c2s, c.c2sTLS, c.comp.secret)
	}
	c, parse = serveFlags()
	if err := parse(append(base, "--c2s", "127.0.0.1:5222")); err != nil || c.c2s != "127.0.0.1:5222" || c.c2sTLS != "" {
		t.Errorf("--c2s asked for: %v, %q %q", err, c.c2s, c.c2sTLS)
	}
	t.Setenv("GEOHUB_C2S_TLS", "127.0.0.1:5223")
	c, parse = serveFlags()
	if err := parse(base); err != nil || c.c2sTLS != "127.0.0.1:5223" {
		t.Errorf("GEOHUB_C2S_TLS asked for: %v, %q", err, c.c2sTLS)
	}

	for args, want := range map[string][]string{
		"--component geo.example.com": {"--upstream", "--component-secret-file"},
		"--upstream 127.0.0.1:5347":   {"need --component"},
		"--component bad@jid --upstream x --component-secret-file /nonexistent":                                               {"not a domain", "--upstream", "--component-secret-file"},
		"--component geo.example.com --upstream 127.0.0.1:1 --component-secret-file " + secret + " --peers geo-2.example.com": {"need --component-instance"},
	} {
		_, parse := serveFlags()
		err := parse(strings.Fields(args))
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to say %q", args, err, w)
			}
		}
	}
}
