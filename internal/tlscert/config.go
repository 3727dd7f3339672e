package tlscert

import (
	"crypto/tls"
	"sync/atomic"
)

// ServerConfig is the TLS configuration of every listener the hub serves
// (XMPP and HTTP): TLS 1.2 or later, and on TLS 1.2 only ECDHE key exchange
// with AEAD ciphers, which is what Mozilla's "intermediate" profile keeps.
// Go's defaults still offer CBC-SHA suites on TLS 1.2; TLS 1.3 suites are
// all AEAD and not configurable.
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: AEADSuites,
	}
}

// Holder holds the certificate that listeners serve, so that a new one
// (renewed, on SIGHUP) is served from the next handshake on.
type Holder struct {
	cert atomic.Pointer[tls.Certificate]
}

// NewHolder returns a Holder serving cert.
func NewHolder(cert tls.Certificate) *Holder {
	h := &Holder{}
	h.Set(cert)
	return h
}

// Set makes cert the one served from now on.
func (h *Holder) Set(cert tls.Certificate) { h.cert.Store(&cert) }

// Config is ServerConfig serving whatever h holds at each handshake.
func (h *Holder) Config() *tls.Config {
	c := ServerConfig(tls.Certificate{})
	c.Certificates = nil
	c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return h.cert.Load(), nil }
	return c
}

// AEADSuites are the TLS 1.2 suites ServerConfig allows.
var AEADSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}
