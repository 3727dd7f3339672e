package main

import (
	"log/slog"
	"maps"
	"slices"

	"github.com/geohub/geohub/dashboard"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/internal/tlscert"
)

// reloadable are the settings a running hub takes on SIGHUP; a change to
// any other is logged as needing a restart.
var reloadable = []string{"tls-cert", "tls-key", "map-tiles", "map-attribution",
	"max-conns-per-ip", "conn-rate", "conn-burst", "max-auth-failures", "auth-failure-window",
	"stanza-rate", "stanza-burst", "message-rate", "message-burst", "byte-rate", "byte-burst"}

// reloadTargets are what SIGHUP changes in the running hub.
type reloadTargets struct {
	certs *tlscert.Holder
	web   *dashboard.Server // nil without --http
	hub   *hub.Server
}

// reload runs on SIGHUP: it reads the settings again (flags, environment,
// --config), loads the certificate again (a renewed one is served from the
// next handshake), takes the map settings (from the next page load) and
// the limits per address (at once) and shapers (for new sessions), and
// says which changed settings need a restart. With a
// mistake in the settings nothing changes.
func reload(c *serveConfig, args []string, to reloadTargets, dataDir, domain string, log *slog.Logger) {
	sdNotify("RELOADING=1")
	defer sdNotify("READY=1")
	nc, parse := serveFlags()
	if err := parse(args); err != nil {
		log.Error("reload: the settings have mistakes; nothing changed", "err", err)
		return
	}
	cert, err := tlscert.Load(dataDir, []string{domain, "localhost"}, nc.tlsCert, nc.tlsKey)
	if err != nil {
		log.Error("reload: TLS certificate; the old one stays", "err", err)
		return
	}
	to.certs.Set(cert)
	c.tlsCert, c.tlsKey = nc.tlsCert, nc.tlsKey
	// The limits per address at once, the shapers for new sessions.
	to.hub.SetLimits(nc.hubLimits())
	if to.web != nil {
		to.web.SetMap(nc.mapTiles, nc.mapAttribution) // checked by parse
		c.mapTiles, c.mapAttribution = nc.mapTiles, nc.mapAttribution
	}
	var restart []string
	before, after := settingsMap(c.changed), settingsMap(nc.changed)
	for _, name := range slices.Sorted(maps.Keys(merged(before, after))) {
		if before[name] != after[name] && !slices.Contains(reloadable, name) {
			restart = append(restart, name)
		}
	}
	log.Info("reloaded", "tls_sha256", tlscert.Fingerprint(cert), "changed_but_need_a_restart", restart)
}

// settingsMap turns changedSettings' name, value pairs into a map.
func settingsMap(pairs []any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i].(string)] = pairs[i+1]
	}
	return m
}

func merged(a, b map[string]any) map[string]any {
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}
