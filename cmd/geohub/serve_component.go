package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
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

	// Sharding: this instance's own domain, the other instances', the
	// upstream's pubsub service that shares the fences and rules.
	instance, instanceUpstream, peers string
	sharedConfig, sharedNode          string
	peerTimeout                       time.Duration
}

func componentFlags(fs *flag.FlagSet, c *componentConfig) {
	fs.StringVar(&c.domain, "component", "", "run as an XEP-0114 component of another XMPP server, at this domain (e.g. geo.example.com); "+
		"--domain is then the domain of that server's users, who are matched to GeoHub's accounts by bare JID; the client listeners "+
		"are off unless --c2s or --c2s-tls is given")
	fs.StringVar(&c.upstream, "upstream", "", "host:port of the upstream server's component listener (with --component)")
	fs.StringVar(&c.secretFile, "component-secret-file", "", "file holding the component's shared secret (with --component)")
	fs.StringVar(&c.instance, "component-instance", "", "this instance's own component domain on the same upstream and secret, when several "+
		"instances share --component (e.g. geo-1.example.com): peers' queries and the shared fences travel there")
	fs.StringVar(&c.instanceUpstream, "instance-upstream", "", "host:port of the upstream's listener for --component-instance (default --upstream; "+
		"ejabberd needs a listener per component domain)")
	fs.StringVar(&c.peers, "peers", "", "the other instances' --component-instance domains, comma-separated: fleet-wide queries ask them")
	fs.DurationVar(&c.peerTimeout, "peer-timeout", 2*time.Second, "how long a fleet-wide query waits for each peer (for each page of a trail or series, the whole within ten) before reporting it missing")
	fs.StringVar(&c.sharedConfig, "shared-config", "", "the upstream's pubsub service (e.g. pubsub.example.com) whose node keeps the fences "+
		"and threshold rules the same on every instance (with --component-instance)")
	fs.StringVar(&c.sharedNode, "shared-config-node", "geohub-config", "the node of --shared-config")
}

// settle turns the client listeners off in component mode unless they were
// asked for: on the command line, in the environment (given) or in the
// configuration file.
func (c *componentConfig) settle(fs *flag.FlagSet, given map[string]bool, s *serveConfig) {
	if c.domain == "" {
		return
	}
	for name, addr := range map[string]*string{"c2s": &s.c2s, "c2s-tls": &s.c2sTLS} {
		if f := fs.Lookup(name); !given[name] && f.Value.String() == f.DefValue {
			*addr = ""
		}
	}
}

func (c *componentConfig) validate() error {
	if c.domain == "" {
		if c.upstream != "" || c.secretFile != "" || c.instance != "" {
			return errors.New("--upstream, --component-secret-file and --component-instance need --component")
		}
		return nil
	}
	var errs []error
	if c.instance == "" && (c.peers != "" || c.sharedConfig != "") {
		errs = append(errs, errors.New("--peers and --shared-config need --component-instance"))
	}
	for _, d := range append([]string{c.instance, c.sharedConfig}, c.peerList()...) {
		if j, err := jid.Parse(d); d != "" && (err != nil || j.Domainpart() != d) {
			errs = append(errs, fmt.Errorf("%q: not a domain", d))
		}
	}
	if c.instanceUpstream != "" {
		if _, _, err := net.SplitHostPort(c.instanceUpstream); err != nil {
			errs = append(errs, fmt.Errorf("--instance-upstream %q: %w", c.instanceUpstream, err))
		}
	}
	if c.peerTimeout <= 0 {
		errs = append(errs, errors.New("--peer-timeout must be positive"))
	}
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

func (c *componentConfig) peerList() []string {
	var out []string
	for p := range strings.SplitSeq(c.peers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// link is the component link, nil outside component mode; the hub sends
// its accounts' stanzas through it.
func (c *componentConfig) link(log *slog.Logger, maxStanza int) *component.Link {
	if c.domain == "" {
		return nil
	}
	return component.New(component.Config{Domain: c.domain, Upstream: c.upstream, Secret: c.secret, Logger: log, MaxStanza: maxStanza})
}

// shard is this instance's part of a sharded deployment (its own link,
// the peers, the shared fences), not yet started; nil without
// --component-instance.
func (c *componentConfig) shard(accounts *devices.Store, geo *geoloc.Store, log *slog.Logger, maxStanza int) *component.Shard {
	if c.domain == "" || c.instance == "" {
		return nil
	}
	upstream := c.instanceUpstream
	if upstream == "" {
		upstream = c.upstream
	}
	own := component.New(component.Config{Domain: c.instance, Upstream: upstream, Secret: c.secret, Logger: log, MaxStanza: maxStanza})
	s := &component.Shard{Link: own, Peers: c.peerList(), Timeout: c.peerTimeout, Geo: geo, Accounts: accounts}
	if c.sharedConfig != "" {
		s.Shared = &component.SharedConfig{Service: c.sharedConfig, Node: c.sharedNode, Geo: geo, Log: log}
	}
	return s
}

// fleetOf is the shard as the application and the dashboard see it: none
// when this instance is the whole fleet.
func fleetOf(s *component.Shard) tracking.Fleet {
	if s == nil {
		return nil
	}
	return s
}

// startComponent connects the link to the application, once it is wired,
// and with sharding the instance's own link. It returns what stops them,
// and the readiness of the hub and the links, for /readyz.
func (c *componentConfig) start(link *component.Link, shard *component.Shard, h *hub.Server, accounts *devices.Store, geo *geoloc.Store,
	app *tracking.App) (stop func(), ready func() error) {
	front := &component.Front{Link: link, Hub: h, PubSub: h.PubSub(), Accounts: accounts, Messages: app, Geo: geo, Shard: shard}
	if shard != nil {
		shard.OnAlert, shard.Messages = app.PublishRelayed, app
		shard.Start()
	}
	link.Start(front.Handle)
	stop = func() {
		link.Close()
		if shard != nil {
			shard.Link.Close()
		}
	}
	ready = func() error {
		err := errors.Join(h.Ready(), link.Ready())
		if shard != nil {
			err = errors.Join(err, shard.Link.Ready())
		}
		return err
	}
	return stop, ready
}

// upstreamOf is the hub's view of the link: none outside component mode.
func upstreamOf(link *component.Link) hub.Upstream {
	if link == nil {
		return nil
	}
	return link
}
