package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/internal/component"
	"github.com/geohub/geohub/tracking"
	"mellium.im/xmpp/jid"
)

// componentConfig is component mode (internal/component): GeoHub attached
// to another XMPP server as an XEP-0114 component.
type componentConfig struct {
	domain, upstream, secretFile string
	secret                       string // read by validate
}

func componentFlags(fs *flag.FlagSet, c *componentConfig) {
	fs.StringVar(&c.domain, "component", "", "run as an XEP-0114 component of another XMPP server, at this domain (e.g. geo.example.com); "+
		"--domain is then the domain of that server's users, who are matched to GeoHub's accounts by bare JID; the client listeners "+
		"are off unless --c2s or --c2s-tls is given")
	fs.StringVar(&c.upstream, "upstream", "", "host:port of the upstream server's component listener (with --component)")
	fs.StringVar(&c.secretFile, "component-secret-file", "", "file holding the component's shared secret (with --component)")
}

// settle turns the client listeners off in component mode unless they were
// asked for, on the command line or in the environment.
func (c *componentConfig) settle(fs *flag.FlagSet, s *serveConfig) {
	if c.domain == "" {
		return
	}
	asked := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { asked[f.Name] = true })
	for name, addr := range map[string]*string{"c2s": &s.c2s, "c2s-tls": &s.c2sTLS} {
		if _, env := os.LookupEnv(envName(name)); !asked[name] && !env {
			*addr = ""
		}
	}
}

func (c *componentConfig) validate() error {
	if c.domain == "" {
		if c.upstream != "" || c.secretFile != "" {
			return errors.New("--upstream and --component-secret-file need --component")
		}
		return nil
	}
	var errs []error
	if j, err := jid.Parse(c.domain); err != nil || j.Domainpart() != c.domain {
		errs = append(errs, fmt.Errorf("--component %q: not a domain", c.domain))
	}
	if _, _, err := net.SplitHostPort(c.upstream); err != nil {
		errs = append(errs, fmt.Errorf("--upstream %q: %w", c.upstream, err))
	}
	if c.secretFile == "" {
		errs = append(errs, errors.New("--component needs --component-secret-file"))
	} else if b, err := os.ReadFile(c.secretFile); err != nil {
		errs = append(errs, fmt.Errorf("--component-secret-file: %w", err))
	} else if c.secret = strings.TrimSpace(string(b)); c.secret == "" {
		errs = append(errs, fmt.Errorf("--component-secret-file %s is empty", c.secretFile))
	}
	return errors.Join(errs...)
}

// link is the component link, nil outside component mode; the hub sends
// its accounts' stanzas through it.
func (c *componentConfig) link(log *slog.Logger, maxStanza int) *component.Link {
	if c.domain == "" {
		return nil
	}
	return component.New(component.Config{Domain: c.domain, Upstream: c.upstream, Secret: c.secret, Logger: log, MaxStanza: maxStanza})
}

// startComponent connects the link to the application, once it is wired.
func startComponent(link *component.Link, h *hub.Server, accounts *devices.Store, app *tracking.App) {
	front := &component.Front{Link: link, Hub: h, PubSub: h.PubSub(), Accounts: accounts, Messages: app}
	link.Start(front.Handle)
}

// upstreamOf is the hub's view of the link: none outside component mode.
func upstreamOf(link *component.Link) hub.Upstream {
	if link == nil {
		return nil
	}
	return link
}

// readiness is the hub's, and in component mode the link's too.
func readiness(h *hub.Server, link *component.Link) func() error {
	if link == nil {
		return h.Ready
	}
	return func() error { return errors.Join(h.Ready(), link.Ready()) }
}
