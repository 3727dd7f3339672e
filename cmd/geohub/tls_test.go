package main

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/xmpptest"
)

// TestTLS12OffersAEADSuitesOnly: on every TLS port of geohub serve (STARTTLS,
// direct TLS, HTTPS) a TLS 1.2 client that offers only CBC suites is
// refused, and one that offers AES-GCM or ChaCha20-Poly1305 gets in.
func TestTLS12OffersAEADSuitesOnly(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	hub := startServe(t, data, "--http-tls")
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	trust := xmpptest.TrustPEM(cert)
	handshake := func(port string, suites []uint16) error {
		var c net.Conn
		if port == "starttls" {
			r := xmpptest.DialRaw(t, hub.C2S)
			r.Open("localhost")
			r.Send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
			r.ReadUntil("<proceed")
			r.ReadUntil(">")
			c = r.Conn()
		} else if c, err = net.DialTimeout("tcp", map[string]string{"direct": hub.C2STLS, "https": hub.HTTP}[port], xmpptest.Timeout); err != nil {
			return err
		}
		defer c.Close()
		cfg := trust.Clone()
		cfg.MaxVersion, cfg.CipherSuites = tls.VersionTLS12, suites
		tc := tls.Client(c, cfg)
		tc.SetDeadline(time.Now().Add(xmpptest.Timeout))
		return tc.Handshake()
	}
	cbc := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}
	for _, port := range []string{"starttls", "direct", "https"} {
		if err := handshake(port, cbc); err == nil {
			t.Errorf("%s: a TLS 1.2 handshake offering only CBC suites succeeded", port)
		}
		for _, s := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
			if err := handshake(port, []uint16{s, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}); err != nil {
				t.Errorf("%s: TLS 1.2 with %s: %v", port, tls.CipherSuiteName(s), err)
			}
		}
	}
}
