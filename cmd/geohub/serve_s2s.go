package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/geohub/geohub/hub"
)

// s2sConfig is federation (server-to-server) as the flags give it.
type s2sConfig struct {
	listen      string // "auto": :5269 unless the domain is local
	listenTLS   string // direct TLS (XEP-0368); "" for none
	caFile      string
	hosts       string // domain=host:port,...
	allow, deny string // domains, comma-separated
	idle        time.Duration
	dialback    bool
}

func s2sFlags(fs *flag.FlagSet, c *s2sConfig) {
	fs.StringVar(&c.listen, "s2s", "auto", "server-to-server (federation) listener: an address, off, or auto (:5269 when --domain is a public name, "+
		"off for localhost and *.localhost). Other servers' users can then reach this hub's accounts and the hub contact")
	fs.StringVar(&c.listenTLS, "s2s-tls", "", "server-to-server listener with TLS from the first byte (XEP-0368, ALPN xmpp-server, "+
		"published as _xmpps-server._tcp), such as :5270; none by default")
	fs.StringVar(&c.caFile, "s2s-ca", "", "PEM CA certificates that other servers' certificates must chain to (default: the system's)")
	fs.StringVar(&c.hosts, "s2s-hosts", "", "domain=host:port pairs, comma-separated, connected to instead of looking the domain up in DNS (tests, private networks)")
	fs.StringVar(&c.allow, "s2s-allow", "", "domains to federate with, comma-separated; empty: any domain not in --s2s-deny")
	fs.StringVar(&c.deny, "s2s-deny", "", "domains never to federate with, comma-separated")
	fs.BoolVar(&c.dialback, "s2s-dialback", false, "allow server dialback (XEP-0220) with servers whose certificate does not verify (self-signed): "+
		"their domain is then proven through DNS only. Off, such servers are refused")
	fs.DurationVar(&c.idle, "s2s-idle-timeout", 10*time.Minute, "a server-to-server stream nothing crossed for this long is closed")
}

// federation builds the hub's federation settings for domain; nil when
// off. A component (--component) leaves federation to its upstream.
func (c *s2sConfig) federation(domain string, component bool) (*hub.FederationConfig, error) {
	listen := c.listen
	switch {
	case component && (listen != "auto" && listen != "off" && listen != "" || c.listenTLS != ""):
		return nil, errors.New("--s2s, --s2s-tls: a component's upstream server federates; leave them out with --component")
	case component:
		return nil, nil
	case listen == "auto":
		listen = ":5269"
		if domain == "localhost" || strings.HasSuffix(domain, ".localhost") {
			listen = ""
		}
	}
	if listen == "off" {
		listen = ""
	}
	if listen == "" && c.listenTLS == "" {
		return nil, nil
	}
	fc := &hub.FederationConfig{Listen: listen, ListenTLS: c.listenTLS, Allow: domainList(c.allow), Deny: domainList(c.deny),
		IdleTimeout: c.idle, Dialback: c.dialback}
	var errs []error
	for flag, addr := range map[string]string{"--s2s": listen, "--s2s-tls": c.listenTLS} {
		if _, _, err := net.SplitHostPort(addr); addr != "" && err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", flag, addr, err))
		}
	}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--s2s-ca: %w", err))
		} else {
			fc.Roots = x509.NewCertPool()
			if !fc.Roots.AppendCertsFromPEM(pem) {
				errs = append(errs, fmt.Errorf("--s2s-ca %s: no PEM certificate in it", c.caFile))
			}
		}
	}
	for _, pair := range domainList(c.hosts) {
		d, addr, ok := strings.Cut(pair, "=")
		if _, _, err := net.SplitHostPort(addr); !ok || d == "" || err != nil {
			errs = append(errs, fmt.Errorf("--s2s-hosts %q: want domain=host:port", pair))
			continue
		}
		if fc.Hosts == nil {
			fc.Hosts = map[string]string{}
		}
		fc.Hosts[strings.ToLower(d)] = addr
	}
	if c.idle <= 0 {
		errs = append(errs, errors.New("--s2s-idle-timeout must be positive"))
	}
	return fc, errors.Join(errs...)
}

// domainList splits a comma-separated list of domains, lowercased.
func domainList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.ToLower(strings.TrimSpace(v)); v != "" {
			out = append(out, v)
		}
	}
	return out
}
