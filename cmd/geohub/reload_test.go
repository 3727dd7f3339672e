package main

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/tlscert"
)

// newCertPair writes a fresh self-signed certificate and key for
// localhost and returns their files and the certificate's fingerprint.
func newCertPair(t *testing.T) (certFile, keyFile, fingerprint string) {
	t.Helper()
	dir := t.TempDir()
	cert, err := tlscert.Load(dir, []string{"localhost"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, tlscert.CertFile), filepath.Join(dir, tlscert.KeyFile), tlscert.Fingerprint(cert)
}

// servedFingerprint is the fingerprint of the certificate a direct TLS
// listener serves now.
func servedFingerprint(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: []string{"xmpp-client"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return tlscert.Fingerprint(tls.Certificate{Certificate: [][]byte{c.ConnectionState().PeerCertificates[0].Raw}})
}

// Under systemd (Type=notify) the hub says READY=1 once it serves; SIGHUP
// loads a renewed certificate, served from the next handshake on, says
// RELOADING=1 then READY=1, and logs which changed settings need a restart.
func TestNotifyAndReloadOnSIGHUP(t *testing.T) {
	notify := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	states := make(chan string, 16)
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			states <- string(buf[:n])
		}
	}()
	next := func(want string) {
		t.Helper()
		select {
		case got := <-states:
			if got != want {
				t.Fatalf("notify: %q, want %q", got, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("notify: nothing, want %q", want)
		}
	}

	certFile, keyFile, first := newCertPair(t)
	conf := filepath.Join(t.TempDir(), "geohub.yaml")
	os.WriteFile(conf, []byte("limits:\n  conn-rate: 30\nmap:\n  tiles: https://a.tiles.example/{z}/{x}/{y}.png\n  attribution: A\n"), 0o600)
	t.Setenv("NOTIFY_SOCKET", notify)
	h := startServe(t, filepath.Join(t.TempDir(), "data"), "--tls-cert", certFile, "--tls-key", keyFile, "--config", conf)
	next("READY=1")
	h.WaitForLog(t, "settings that differ from their defaults", `"conn-rate":"30"`)
	if got := servedFingerprint(t, h.C2STLS); got != first {
		t.Fatalf("served %s, want the certificate given, %s", got, first)
	}

	// The certificate is renewed in place and a limit changed.
	renewedCert, renewedKey, second := newCertPair(t)
	for src, dst := range map[string]string{renewedCert: certFile, renewedKey: keyFile} {
		b, _ := os.ReadFile(src)
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mapConfig := func() (string, string) {
		res, err := http.Get("http://" + h.HTTP + "/api/config")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b), res.Header.Get("Content-Security-Policy")
	}
	if conf, csp := mapConfig(); !strings.Contains(conf, "a.tiles.example") || !strings.Contains(csp, "https://a.tiles.example") {
		t.Errorf("map before SIGHUP: %s %s", conf, csp)
	}
	// A connection rate that lets few through, and a setting read once.
	os.WriteFile(conf, []byte("limits:\n  conn-rate: 0.01\n  conn-burst: 5\n  max-stanza-size: 400000\n"+
		"map:\n  tiles: https://b.tiles.example/{z}/{x}/{y}.png\n  attribution: B\n"), 0o600)
	h.Signal(syscall.SIGHUP)
	next("RELOADING=1")
	next("READY=1")
	line := h.WaitForLog(t, `"msg":"reloaded"`)
	if !strings.Contains(line, second) || !strings.Contains(line, `"changed_but_need_a_restart":["max-stanza-size"]`) {
		t.Errorf("reload log: %s", line)
	}
	if got := servedFingerprint(t, h.C2STLS); got != second {
		t.Errorf("after SIGHUP served %s, want the renewed certificate %s", got, second)
	}
	if conf, csp := mapConfig(); !strings.Contains(conf, `"tile_url":"https://b.tiles.example/{z}/{x}/{y}.png","tile_attribution":"B"`) ||
		!strings.Contains(csp, "https://b.tiles.example") || strings.Contains(csp, "a.tiles.example") {
		t.Errorf("map after SIGHUP: %s %s", conf, csp)
	}

	// A mistake in the file changes nothing and keeps the hub running.
	os.WriteFile(conf, []byte("limits:\n  conn-rate: fast\n"), 0o600)
	h.Signal(syscall.SIGHUP)
	next("RELOADING=1")
	next("READY=1")
	h.WaitForLog(t, "reload: the settings have mistakes", "conn-rate")
	if got := servedFingerprint(t, h.C2STLS); got != second {
		t.Errorf("after a failed reload served %s, want %s", got, second)
	}
	// The new connection rate holds: within a few connections from this
	// address, one is refused (before the reload, the burst was 1,000).
	refused := false
	for i := 0; i < 8 && !refused; i++ {
		c, err := net.Dial("tcp", h.C2S)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
		// Read up to the features (admitted) or the end (refused).
		var got []byte
		buf := make([]byte, 4096)
		for !strings.Contains(string(got), "</stream:features>") {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		refused = strings.Contains(string(got), "connecting too fast")
		c.Close()
	}
	if !refused {
		t.Error("the connection rate from the reloaded file did not hold")
	}
	if err := h.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	next("STOPPING=1")
}
